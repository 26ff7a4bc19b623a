"""``/finetune ab``: start an A/B session, post its results, or evaluate a job on held-out data."""

from __future__ import annotations

from typing import Any

from bot.blocks.ab import build_unblind_confirm
from bot.context import BotContext
from bot.flows.ab import (
    SessionRequest,
    count_prompts,
    link_text,
    may_unblind,
    request_for_job,
    start_session,
    unblind_refusal,
)
from bot.listeners.commands.parsing import Reply, UsageError, parse_flags
from core.evaluation.arms import Arm
from core.evaluation.runs import heldout_file, queue_run
from core.evaluation.sessions import find_session
from core.storage import SharedStorage
from core.store.datasets import find_dataset, get_dataset
from core.store.jobs import find_job

NAME = "ab"
USAGE = (
    "`/finetune ab <job|model> [vs <model>] [--few-shot] [--provider worker|openai|azure]` — "
    "blind A/B test in a thread · `/finetune ab results <session>` — table, CSV and DPO "
    "export · `/finetune ab heldout <job> [--data <dataset>]` — evaluate on held-out data"
)


def _start(ctx: BotContext, args: list[str], command: dict[str, Any]) -> Reply:
    words, opts = parse_flags(
        args, flags={"provider": str}, switches=("few-shot",), positional=range(4), usage=USAGE
    )
    if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "vs"):
        raise UsageError("Give a job or model, optionally followed by `vs <model>`.", usage=USAGE)
    user, channel = command["user_id"], command["channel_id"]
    if not ctx.authorizer.is_allowed(user):
        return Reply(text=ctx.authorizer.refusal())
    opponent = words[2] if len(words) == 3 else None
    request_id = f"command:{command.get('trigger_id') or command.get('command_ts') or ''}"
    # This channel's jobs only: --few-shot uses the job's training data.
    job = find_job(ctx.engine, ref=words[0], channel_id=channel, team_id=ctx.team)
    if job is not None:
        if "provider" in opts:
            raise UsageError("`--provider` is only for models; a job has its own.", usage=USAGE)
        request = request_for_job(
            job,
            request_id=request_id,
            channel_id=channel,
            user_id=user,
            opponent=opponent,
            few_shot=bool(opts.get("few-shot")),
        )
    else:
        request = _model_request(ctx, words[0], opponent, opts, request_id, channel, user)
    session, created = start_session(ctx, request)
    if not created:
        return Reply(text=f"Already started: {link_text(session)}.")
    return Reply(text=f"Started {link_text(session)}. Reply in its thread with prompts to compare.")


def _model_request(
    ctx: BotContext,
    model: str,
    opponent: str | None,
    opts: dict[str, Any],
    request_id: str,
    channel: str,
    user: str,
) -> SessionRequest:
    if opponent is None:
        raise UsageError(
            f"`{model[:60]}` is not a job I know; to compare two models say "
            f"`{model[:60]} vs <model>`.",
            usage=USAGE,
        )
    if opts.get("few-shot"):
        raise UsageError("`--few-shot` needs a job (it uses the job's training data).", usage=USAGE)
    provider = opts.get("provider") or next(iter(ctx.providers), None)
    if provider is None:
        raise UsageError("No provider is configured.", usage=USAGE)
    return SessionRequest(
        request_id=request_id,
        channel_id=channel,
        user_id=user,
        candidate=Arm("candidate", provider, model),
        baseline=Arm("baseline", provider, opponent),
        labels=(model[:64], opponent[:64]),
    )


def _results(ctx: BotContext, args: list[str], command: dict[str, Any]) -> Reply:
    """Unblinding cannot be undone: only the creator or an admin, and only after a confirm."""
    if len(args) != 1:
        raise UsageError("`ab results` takes one session id (`ab-…`).", usage=USAGE)
    session = find_session(ctx.engine, args[0].lower(), team_id=ctx.team)
    if session is None or session.channel_id != command["channel_id"]:
        raise UsageError(f"No A/B session `{args[0][:40]}` in this channel.", usage=USAGE)
    if not may_unblind(ctx, session, command["user_id"]):
        return Reply(text=unblind_refusal(session))
    # The results unblind the session for everyone: ask first (the button posts them).
    return Reply(**build_unblind_confirm(session.short_id, count_prompts(ctx.engine, session)))


def _heldout(ctx: BotContext, args: list[str], command: dict[str, Any]) -> Reply:
    words, opts = parse_flags(args, flags={"data": str}, positional=range(2), usage=USAGE)
    if len(words) != 1:
        raise UsageError("`ab heldout` takes one job id.", usage=USAGE)
    if not ctx.authorizer.is_allowed(command["user_id"]):
        return Reply(text=ctx.authorizer.refusal())
    job = find_job(ctx.engine, ref=words[0], channel_id=command["channel_id"], team_id=ctx.team)
    if job is None or job.id is None:
        raise UsageError(
            f"No job `{words[0][:40]}`; `/finetune list` shows recent ones.", usage=USAGE
        )
    if job.status != "succeeded" or not job.fine_tuned_model:
        return Reply(text=f"Job `{job.short_id}` has no fine-tuned model yet ({job.status}).")
    path: str | None
    if "data" in opts:
        dataset = find_dataset(
            ctx.engine, ref=opts["data"], channel_id=command["channel_id"], team_id=ctx.team
        )
        path = dataset.training_path if dataset else None
    else:
        dataset = get_dataset(ctx.engine, job.dataset_id) if job.dataset_id else None
        path = heldout_file(job, dataset, storage=SharedStorage.from_settings(ctx.settings))
    if not path:
        return Reply(
            text="I have no held-out data for this job. Drop a held-out file in the channel, "
            "then run `/finetune ab heldout <job> --data <its dataset id>`."
        )
    if queue_run(ctx.engine, job_id=job.id, data_path=path) is None:
        return Reply(text=f"Job `{job.short_id}` is already evaluated (or queued); see its thread.")
    return Reply(
        text=f"Queued the held-out evaluation of `{job.short_id}`; it posts in the job's thread."
    )


def handle(ctx: BotContext, args: list[str], command: dict[str, Any]) -> Reply:
    if not args:
        raise UsageError("Say what to compare.", usage=USAGE)
    if args[0].lower() == "results":
        return _results(ctx, args[1:], command)
    if args[0].lower() == "heldout":
        return _heldout(ctx, args[1:], command)
    return _start(ctx, args, command)
