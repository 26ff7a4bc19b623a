"""``/finetune list``: recent datasets and jobs in this channel."""

from __future__ import annotations

from typing import Any

from bot.blocks.jobs import build_list_text
from bot.context import BotContext
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
            datasets=recent_datasets(ctx.engine, channel_id=channel, limit=10),
            jobs=recent_jobs(ctx.engine, channel_id=channel, limit=10),
        )
    )
