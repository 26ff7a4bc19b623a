"""``/finetune help``: every subcommand's usage."""

from __future__ import annotations

from typing import Any

from bot.context import BotContext
from bot.listeners.commands import ab, cancel, models, start, status
from bot.listeners.commands import list as list_command
from bot.listeners.commands.parsing import Command, Reply, UsageError

NAME = "help"
USAGE = "`/finetune help` — this list"


# Every other subcommand, in the order help lists them.
SUBCOMMANDS = (start, status, list_command, cancel, models, ab)


def all_commands() -> dict[str, Command]:
    """Every subcommand by name, ``help`` first."""
    others = {m.NAME: Command(m.NAME, m.USAGE, m.handle) for m in SUBCOMMANDS}
    return {NAME: Command(NAME, USAGE, handle), **others}


def usage_text() -> str:
    lines = [command.usage for command in all_commands().values()]
    return "*tunebot* — drop a dataset file in a channel I'm in, or:\n" + "\n".join(
        f"• {line}" for line in lines
    )


def handle(ctx: BotContext, args: list[str], command: dict[str, Any]) -> Reply:
    if args:
        raise UsageError("`help` takes no arguments.", usage=USAGE)
    return Reply(text=usage_text())
