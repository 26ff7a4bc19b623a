"""``/finetune status [job]``: one job, or this channel's active and recent jobs."""

from __future__ import annotations

from typing import Any

from bot.blocks.jobs import build_job_status_text
from bot.context import BotContext
from bot.flows.cards import job_card
from bot.listeners.commands.parsing import Reply, UsageError
from core.store.jobs import find_job, recent_jobs

NAME = "status"
USAGE = (
    "`/finetune status [job]` — a job's state (job-… or the provider's id), "
    "or this channel's latest"
)


def handle(ctx: BotContext, args: list[str], command: dict[str, Any]) -> Reply:
    if len(args) > 1 or any(arg.startswith("--") for arg in args):
        raise UsageError("`status` takes at most one job id and no options.", usage=USAGE)
    if args:
        job = find_job(ctx.engine, ref=args[0], channel_id=command["channel_id"], team_id=ctx.team)
        if job is None:
            raise UsageError(
                f"No job `{args[0]}`; `/finetune list` shows recent ones.", usage=USAGE
            )
        return Reply(text=build_job_status_text(job_card(job)))
    jobs = recent_jobs(ctx.engine, channel_id=command["channel_id"], team_id=ctx.team, limit=3)
    if not jobs:
        return Reply(text="No jobs in this channel yet. Drop a dataset file to start.")
    return Reply(text="\n\n".join(build_job_status_text(job_card(job)) for job in jobs))
