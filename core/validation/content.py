"""Checks on the text inside examples, shared by every format.

These run on every string of every example, so each does the cheapest test
first (``"<|" in text``, one character look at each end) and only then the
precise one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Special tokens OpenAI refuses in training text, beyond the encoding's own set
# (the fim_* and im_* markers are rejected whichever encoding the model uses).
KNOWN_SPECIAL_TOKENS = frozenset(
    {
        "<|endoftext|>",
        "<|fim_prefix|>",
        "<|fim_middle|>",
        "<|fim_suffix|>",
        "<|endofprompt|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|im_sep|>",
    }
)
_MARKER = re.compile(r"<\|[A-Za-z0-9_]{1,40}\|>")

Problem = tuple[str, str, str | None]
"""A finding as the checks emit it: (code, message, fix); positions are added later."""


def special_tokens_in(text: str, specials: frozenset[str]) -> list[str]:
    """The special-token strings ``text`` contains, in order, each once."""
    if "<|" not in text:
        return []
    found: list[str] = []
    for match in _MARKER.finditer(text):
        token = match.group(0)
        if token in specials and token not in found:
            found.append(token)
    return found


def special_token_problem(where: str, tokens: Iterable[str]) -> Problem:
    shown = ", ".join(tokens)
    return (
        "special_token_in_content",
        f"{where} contains {shown}, which OpenAI rejects in training data.",
        "Remove the special token text or write it differently (e.g. '< |endoftext| >').",
    )


def is_padded(text: str) -> bool:
    """Whether ``text`` starts or ends with whitespace (empty text is not padded)."""
    return bool(text) and (text[0].isspace() or text[-1].isspace())


def padding_problem(where: str, count: int) -> Problem:
    more = f" (and {count - 1} more text(s) in this example)" if count > 1 else ""
    return (
        "whitespace_padding",
        f"{where} starts or ends with whitespace{more}.",
        "--fix strips it; leading/trailing spaces and newlines are trained as written.",
    )


def describe(value: object) -> str:
    """A JSON type name for messages ("got number")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
