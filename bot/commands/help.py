"""``/finetune help``: every subcommand's usage."""

from __future__ import annotations

from typing import Any

from bot.commands import Reply, UsageError, load_commands
from bot.context import BotContext

NAME = "help"
USAGE = "`/finetune help` — this list"


def usage_text() -> str:
    lines = [command.usage for command in load_commands().values()]
    return "*tunebot* — drop a dataset file in a channel I'm in, or:\n" + "\n".join(
        f"• {line}" for line in lines
    )


def handle(ctx: BotContext, args: list[str], command: dict[str, Any]) -> Reply:
    if args:
        raise UsageError("`help` takes no arguments.", usage=USAGE)
    return Reply(text=usage_text())
