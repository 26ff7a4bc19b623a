"""``/finetune cancel <job>``: stop a running job (allowed people only)."""

from __future__ import annotations

from typing import Any

from bot.context import BotContext
from bot.listeners.commands.parsing import Reply, UsageError
from core.store.jobs import find_job
from core.training.cancel import cancel_job

NAME = "cancel"
USAGE = "`/finetune cancel <job>` — cancel a job (job-… or the provider's id)"


def handle(ctx: BotContext, args: list[str], command: dict[str, Any]) -> Reply:
    if len(args) != 1 or args[0].startswith("--"):
        raise UsageError("`cancel` takes exactly one job id.", usage=USAGE)
    user = command["user_id"]
    if not ctx.authorizer.is_allowed(user):
        return Reply(text=ctx.authorizer.refusal("cancel"))
    # Scoped to the channel like `status`: a job id seen elsewhere is not a handle here.
    job = find_job(ctx.engine, ref=args[0], channel_id=command["channel_id"], team_id=ctx.team)
    if job is None:
        raise UsageError(f"No job `{args[0]}`; `/finetune list` shows recent ones.", usage=USAGE)
    job = cancel_job(ctx.engine, job, providers=ctx.providers, user_id=user)
    return Reply(text=f"Asked {job.provider} to cancel job `{job.short_id}` (now {job.status}).")
