"""``/finetune list``: recent datasets and jobs in this channel."""

from __future__ import annotations

from typing import Any

from bot.blocks.jobs import build_list_text
from bot.context import BotContext
from bot.flows.cards import dataset_card, job_card
from bot.listeners.commands.parsing import Reply, UsageError
from core.store.datasets import recent_datasets
from core.store.jobs import recent_jobs

NAME = "list"
USAGE = "`/finetune list` — recent datasets and jobs in this channel"


def handle(ctx: BotContext, args: list[str], command: dict[str, Any]) -> Reply:
    if args:
        raise UsageError("`list` takes no arguments.", usage=USAGE)
    channel = command["channel_id"]
    return Reply(
        text=build_list_text(
            datasets=[
                dataset_card(d)
                for d in recent_datasets(ctx.engine, channel_id=channel, team_id=ctx.team, limit=10)
            ],
            jobs=[
                job_card(j)
                for j in recent_jobs(ctx.engine, channel_id=channel, team_id=ctx.team, limit=10)
            ],
        )
    )
