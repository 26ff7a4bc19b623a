"""``/finetune``: parse the first word, ack, run the subcommand, answer ephemerally.

One module per subcommand sits next to this one (``start.py``, ``ab.py``, …);
:mod:`.help` lists them and :mod:`.parsing` holds what they share.

Unknown input is answered in the ack itself (a short usage text); a known
subcommand is acked at once and runs afterwards on the context's pool,
answering through the command's ``response_url``. No input reaches the user
as a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.blocks.text import INTERNAL_ERROR, error_text
from bot.context import BotContext
from bot.listeners.commands.help import all_commands
from bot.listeners.commands.parsing import Command, Reply, UsageError, split_args
from core.errors import TunebotError

logger = logging.getLogger(__name__)

COMMAND = "/finetune"


def short_usage(commands: dict[str, Command]) -> str:
    return "Usage: `/finetune " + "|".join(commands) + "` — try `/finetune help`."


def handle_finetune(
    ctx: BotContext,
    commands: dict[str, Command],
    *,
    ack: Ack,
    command: dict[str, Any],
    respond: Respond,
) -> None:
    try:
        args = split_args(command.get("text") or "")
    except UsageError as exc:
        ack(text=f"{exc} {short_usage(commands)}")
        return
    if not args:
        args = ["help"]
    selected = commands.get(args[0].lower())
    if selected is None:
        ack(text=f"I don't know `{args[0][:40]}`. {short_usage(commands)}")
        return
    ack()
    ctx.submit(_reply, ctx, selected, args[1:], command, respond)


def _reply(
    ctx: BotContext, selected: Command, args: list[str], command: dict[str, Any], respond: Respond
) -> None:
    reply = run_command(ctx, selected, args, command)
    respond(
        text=reply.text,
        blocks=reply.blocks,
        response_type="in_channel" if reply.in_channel else "ephemeral",
    )


def run_command(
    ctx: BotContext, selected: Command, args: list[str], command: dict[str, Any]
) -> Reply:
    """Run one subcommand; every failure becomes a reply that says what to do."""
    try:
        return selected.handle(ctx, args, command)
    except UsageError as exc:
        return Reply(text=f"{exc}\nUsage: {exc.usage or selected.usage}")
    except TunebotError as exc:
        return Reply(text=error_text(exc))
    except Exception:
        logger.exception("/finetune %s failed", selected.name)
        return Reply(text=INTERNAL_ERROR)


def register(app: App, ctx: BotContext) -> None:
    commands = all_commands()

    @app.command(COMMAND)
    def on_finetune(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        handle_finetune(ctx, commands, ack=ack, command=command, respond=respond)
