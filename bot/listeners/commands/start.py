"""``/finetune start <dataset> [options]``: start a job without the modal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.context import BotContext
from bot.flows.start import start_in_thread
from bot.listeners.commands.parsing import Reply, UsageError, parse_flags
from core.errors import ProviderError
from core.store.datasets import find_dataset
from core.training.start import JobOptions, StartRequest, method_for_format

NAME = "start"
USAGE = (
    "`/finetune start <dataset> [--provider worker|openai|azure] [--model BASE] [--epochs N] "
    "[--suffix S] [--validation-split F] [--lora-rank R] [--4bit on|off]` — "
    "<dataset> is the report's id (ds-…) or the Slack file id (F…)"
)


def _positive_int(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError("expected a whole number of 1 or more.")
    return int(raw)


def _fraction(raw: str) -> float:
    try:
        value = float(raw.rstrip("%")) / (100 if raw.endswith("%") else 1)
    except ValueError:
        raise ValueError("expected a fraction such as 0.1 (or 10%).") from None
    return value


def _on_off(raw: str) -> bool:
    if raw.lower() not in ("on", "off"):
        raise ValueError("expected on or off.")
    return raw.lower() == "on"


FLAGS: dict[str, Callable[[str], Any]] = {
    "provider": str.lower,
    "model": str,
    "epochs": _positive_int,
    "suffix": str,
    "validation-split": _fraction,
    "lora-rank": _positive_int,
    "4bit": _on_off,
}


def _base_model(ctx: BotContext, provider: str, model: str | None, report_model: str) -> str:
    if model:
        return model
    if provider != "worker":
        return report_model
    try:
        models = ctx.model_lists.get(ctx.providers[provider])
    except ProviderError as exc:
        raise UsageError(f"{exc.message} Name a model with `--model`.", usage=USAGE) from None
    if not models:
        raise UsageError("The worker lists no models; name one with `--model`.", usage=USAGE)
    return models[0]


def handle(ctx: BotContext, args: list[str], command: dict[str, Any]) -> Reply:
    (ref,), flags = parse_flags(args, flags=FLAGS, positional=1, usage=USAGE)
    user, channel = command["user_id"], command["channel_id"]
    if not ctx.authorizer.is_allowed(user):
        return Reply(text=ctx.authorizer.refusal())
    dataset = find_dataset(ctx.engine, ref=ref, channel_id=channel, team_id=ctx.team)
    if dataset is None or dataset.id is None:
        raise UsageError(f"No dataset `{ref}`; `/finetune list` shows this channel's.", usage=USAGE)
    if dataset.channel_id != channel:
        # The job reports in the dataset's thread: start it where people can see that thread.
        return Reply(
            text=f"Dataset `{dataset.short_id}` was dropped in <#{dataset.channel_id}>; "
            "run the command there."
        )
    provider = flags.get("provider") or next(iter(ctx.providers), "")
    if provider not in ctx.providers:
        configured = ", ".join(ctx.providers) or "none"
        return Reply(text=f"Provider `{provider}` is not configured (configured: {configured}).")
    options = JobOptions(
        provider=provider,
        base_model=_base_model(ctx, provider, flags.get("model"), dataset.model),
        n_epochs=flags.get("epochs"),
        suffix=flags.get("suffix"),
        validation_split=flags.get("validation-split"),
        lora_r=flags.get("lora-rank"),
        load_in_4bit=flags.get("4bit"),
        # A preference file trains with DPO; core refuses any other pairing.
        method=method_for_format(dataset.format),
    )
    request = StartRequest(
        request_id=f"command:{command.get('trigger_id') or command.get('response_url')}",
        dataset_id=dataset.id,
        options=options,
        user_id=user,
        team_id=command.get("team_id"),
    )
    refusals: list[str] = []
    job = start_in_thread(ctx, request, notify=refusals.append)
    if job is not None:
        return Reply(
            text=f"Started job `{job.short_id}` on {job.provider}; progress is posted in the "
            f"thread of dataset `{dataset.short_id}`."
        )
    return Reply(
        text=refusals[0] if refusals else "The job did not start; the dataset's thread says why."
    )
