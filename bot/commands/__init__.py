"""``/finetune`` subcommands, one module each.

A subcommand module exposes:

- ``NAME``: the word after ``/finetune`` (``"start"``),
- ``USAGE``: one line of usage text shown by ``help`` and on mistakes,
- ``handle(ctx: BotContext, args: list[str], command: dict) -> Reply``: runs
  *after* the ack (it may call Slack, providers and the database), raises
  :class:`UsageError` for malformed input and ``TunebotError`` for anything a
  person can fix.

Modules in :data:`COMMAND_MODULES` that do not exist yet are skipped, so a new
subcommand (``bot/commands/ab.py``) is one module plus one tuple entry.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

COMMAND_MODULES = (
    "bot.commands.help",
    "bot.commands.start",
    "bot.commands.status",
    "bot.commands.list",
    "bot.commands.cancel",
    "bot.commands.models",
    "bot.commands.ab",
)


@dataclass
class Reply:
    """What a subcommand answers; ephemeral unless ``in_channel``."""

    text: str
    blocks: list[dict[str, Any]] | None = None
    in_channel: bool = False


class UsageError(Exception):
    """Malformed ``/finetune`` input; the message says what was wrong."""

    def __init__(self, message: str, *, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass
class Command:
    """A loaded subcommand module."""

    name: str
    usage: str
    handle: Callable[..., Reply]
    module: ModuleType = field(repr=False)


def load_commands() -> dict[str, Command]:
    """Every present subcommand module by name, in :data:`COMMAND_MODULES` order."""
    found: dict[str, Command] = {}
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        found[module.NAME] = Command(module.NAME, module.USAGE, module.handle, module)
    return found


def split_args(text: str) -> list[str]:
    """Split the command text like a shell (quotes allowed); raise UsageError on bad quoting."""
    try:
        return shlex.split(text.replace("“", '"').replace("”", '"'))
    except ValueError as exc:
        raise UsageError(f"Could not read the arguments: {exc}.", usage="") from None


def parse_flags(
    args: list[str],
    *,
    flags: Mapping[str, Callable[[str], Any]],
    positional: int,
    usage: str,
) -> tuple[list[str], dict[str, Any]]:
    """Parse ``positional`` arguments then ``--flag value`` pairs, strictly.

    Parameters:
        flags: flag name (without ``--``) to a converter that raises ``ValueError``
            with a readable message for bad values.

    Raises:
        UsageError: missing/extra arguments, unknown or repeated flags, bad values.
    """
    values: dict[str, Any] = {}
    rest: list[str] = []
    items = iter(args)
    for item in items:
        if not item.startswith("--"):
            rest.append(item)
            continue
        name, _, inline = item[2:].partition("=")
        if name not in flags:
            raise UsageError(f"Unknown option `--{name}`.", usage=usage)
        if name in values:
            raise UsageError(f"`--{name}` is given twice.", usage=usage)
        raw = inline or next(items, None)
        if raw is None or raw.startswith("--"):
            raise UsageError(f"`--{name}` needs a value.", usage=usage)
        try:
            values[name] = flags[name](raw)
        except ValueError as exc:
            raise UsageError(f"`--{name} {raw}`: {exc}", usage=usage) from None
    if len(rest) != positional:
        expected = "no arguments" if positional == 0 else f"{positional} argument(s)"
        raise UsageError(f"Expected {expected} before the options, got {len(rest)}.", usage=usage)
    return rest, values
