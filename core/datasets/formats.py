"""Which fine-tuning format an example (and a file) is in.

Detection looks only at top-level keys, so a broken example still gets the
checks of the format it was meant to be in, and their precise messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

ExampleFormat = Literal["chat", "prompt_completion", "preference", "text", "unknown"]

PREFERENCE_KEYS = ("input", "preferred_output", "non_preferred_output")
OLD_PREFERENCE_KEYS = ("preferred_completion", "non_preferred_completion")


def detect_example_format(example: object) -> ExampleFormat:
    """Name the format ``example`` is written in (``unknown`` when none fits)."""
    if not isinstance(example, Mapping):
        return "unknown"
    if "messages" in example:
        return "chat"
    if any(key in example for key in PREFERENCE_KEYS[1:] + OLD_PREFERENCE_KEYS):
        return "preference"
    if "prompt" in example or "completion" in example:
        return "prompt_completion"
    if "text" in example:
        return "text"
    return "unknown"


FileFormat = Literal["chat", "prompt_completion", "preference", "text", "mixed", "unknown"]
_FILE_FORMATS: dict[str, FileFormat] = {
    "chat": "chat",
    "prompt_completion": "prompt_completion",
    "preference": "preference",
    "text": "text",
}


def file_format(counts: Mapping[str, int]) -> FileFormat:
    """The file's format: the one format all readable examples share, else ``mixed``."""
    present = [fmt for fmt, n in counts.items() if n and fmt != "unknown"]
    if not present:
        return "unknown"
    return _FILE_FORMATS[present[0]] if len(present) == 1 else "mixed"
