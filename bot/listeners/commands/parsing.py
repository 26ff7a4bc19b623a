"""What ``/finetune`` subcommands share: the reply, the usage error, argument parsing.

A subcommand module (``bot/listeners/commands/<name>.py``) exposes:

- ``NAME``: the word after ``/finetune`` (``"start"``),
- ``USAGE``: one line of usage text shown by ``help`` and on mistakes,
- ``handle(ctx: BotContext, args: list[str], command: dict) -> Reply``: runs
  *after* the ack (it may call Slack, providers and the database), raises
  :class:`UsageError` for malformed input and ``TunebotError`` for anything a
  person can fix.

A new subcommand is one module plus one entry in :mod:`bot.listeners.commands.help`.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any


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
    """A subcommand: its word, its usage line and its handler."""

    name: str
    usage: str
    handle: Callable[..., Reply]


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
    positional: int | Collection[int],
    usage: str,
    switches: Collection[str] = (),
) -> tuple[list[str], dict[str, Any]]:
    """Parse ``positional`` arguments then ``--flag value`` pairs, strictly.

    Parameters:
        flags: flag name (without ``--``) to a converter that raises ``ValueError``
            with a readable message for bad values.
        positional: how many plain arguments are allowed (one count or several).
        switches: flags that take no value (``--few-shot``); present means True.

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
        if name not in flags and name not in switches:
            raise UsageError(f"Unknown option `--{name}`.", usage=usage)
        if name in values:
            raise UsageError(f"`--{name}` is given twice.", usage=usage)
        if name in switches:
            if inline:
                raise UsageError(f"`--{name}` takes no value.", usage=usage)
            values[name] = True
            continue
        raw = inline or next(items, None)
        if raw is None or raw.startswith("--"):
            raise UsageError(f"`--{name}` needs a value.", usage=usage)
        try:
            values[name] = flags[name](raw)
        except ValueError as exc:
            raise UsageError(f"`--{name} {raw}`: {exc}", usage=usage) from None
    counts = (positional,) if isinstance(positional, int) else tuple(positional)
    if len(rest) not in counts:
        wanted = " or ".join(str(n) for n in counts)
        expected = "no arguments" if counts == (0,) else f"{wanted} argument(s)"
        raise UsageError(f"Expected {expected} before the options, got {len(rest)}.", usage=usage)
    return rest, values
