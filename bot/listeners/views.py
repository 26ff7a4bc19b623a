"""The start modal's submission: check the fields, close the modal, start the job.

Field mistakes are answered inside the ack (``response_action="errors"``) so the
modal stays open with the message under the field; everything else happens
after the ack. The view id is the request id: a retried submission of the
same modal cannot start a second job.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.start_modal import AUTO, CALLBACK_ID
from bot.context import BotContext
from bot.slack_ops import tell_user
from bot.starts import start_in_thread
from core.store.datasets import find_dataset
from core.training.start import JobOptions, StartRequest


def _value(values: dict[str, Any], block_id: str) -> str | None:
    state = (values.get(block_id) or {}).get(block_id) or {}
    if state.get("selected_option"):
        return str(state["selected_option"]["value"])
    raw = state.get("value")
    return str(raw).strip() if raw not in (None, "") else None


def parse_submission(view: dict[str, Any]) -> JobOptions:
    """The modal's values as JobOptions.

    Raises:
        TrainingError: a field is invalid (its ``hint`` names the block id).
    """
    meta = json.loads(view.get("private_metadata") or "{}")
    values = view["state"]["values"]
    provider = str(meta.get("provider", ""))
    epochs = _value(values, "epochs")
    split = _value(values, "validation_split")
    lora = _value(values, "lora_r")
    four_bit = _value(values, "load_in_4bit")
    options = JobOptions(
        provider=provider,
        base_model=_value(values, "base_model") or "",
        n_epochs=None if epochs in (None, AUTO) else int(epochs),
        suffix=_value(values, "suffix"),
        validation_split=None if split in (None, "none") else float(split),
        lora_r=int(lora) if provider == "worker" and lora else None,
        load_in_4bit=None if four_bit in (None, AUTO) else four_bit == "on",
    )
    return options


# Modal block ids for JobOptions fields whose names differ.
_BLOCKS = {"n_epochs": "epochs"}


def field_errors(options: JobOptions) -> dict[str, str]:
    """Errors to show under the fields (Slack's ``response_action: errors``)."""
    return {_BLOCKS.get(name, name): text for name, text in options.problems().items()}


def submit_start_modal(
    ctx: BotContext, *, ack: Ack, body: dict[str, Any], view: dict[str, Any]
) -> None:
    try:
        options = parse_submission(view)
    except (KeyError, ValueError, TypeError):
        ack(
            response_action="errors",
            errors={"base_model": "I could not read this form; open it again."},
        )
        return
    errors = field_errors(options)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()
    ctx.submit(start_from_submission, ctx, body, view, options)


def start_from_submission(
    ctx: BotContext, body: dict[str, Any], view: dict[str, Any], options: JobOptions
) -> None:
    meta = json.loads(view.get("private_metadata") or "{}")
    user = body["user"]["id"]
    dataset = find_dataset(ctx.engine, ref=str(meta.get("dataset", "")))
    if dataset is None or dataset.id is None:
        return
    if not ctx.authorizer.is_allowed(user):
        tell_user(ctx.client, channel=dataset.channel_id, user=user, text=ctx.authorizer.refusal())
        return
    request = StartRequest(
        request_id=f"view:{view['id']}",
        dataset_id=dataset.id,
        options=options,
        user_id=user,
        team_id=(body.get("team") or {}).get("id"),
    )

    def notify(text: str) -> None:
        tell_user(
            ctx.client,
            channel=dataset.channel_id,
            user=user,
            text=text,
            thread_ts=dataset.thread_ts,
        )

    start_in_thread(ctx, request, notify=notify)


def register(app: App, ctx: BotContext) -> None:
    @app.view(CALLBACK_ID)
    def on_start_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submit_start_modal(ctx, ack=ack, body=body, view=view)
