"""Preference (DPO) training data: OpenAI's format shaped for TRL's ``DPOTrainer``.

Why its own module: preference files train only with ``method: dpo`` and have
their own shape, apart from the chat/prompt/text rows of :mod:`worker.dataset`.
The file is what ``/finetune ab results`` exports and what OpenAI documents::

    {"input": {"messages": [...], "tools": [...]?},
     "preferred_output": [{"role": "assistant", "content": "..."}],
     "non_preferred_output": [{"role": "assistant", "content": "..."}]}

becomes ``{"prompt": messages, "chosen": preferred, "rejected": non_preferred}``
(conversational, so the base model's chat template renders it), plus ``tools``
when the input has them. Core's validator has already checked the structure
while the job was ``validating_files``; this only converts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.datasets.formats import detect_example_format
from core.errors import TrainingError

_MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")


def load_preference_examples(path: Path) -> list[dict[str, Any]]:
    """Read a preference JSONL file into TRL's conversational preference rows.

    Raises:
        TrainingError: a line is not a preference example, or the file is empty.
    """
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            example = json.loads(line)
            if detect_example_format(example) != "preference":
                raise TrainingError(
                    f"Line {number}: a DPO job needs preference examples "
                    "(input.messages, preferred_output, non_preferred_output)."
                )
            rows.append(_convert(example, line=number))
    if not rows:
        raise TrainingError("The file has no examples.")
    if len({"tools" in row for row in rows}) > 1:
        # datasets needs one schema; an empty list renders like no tools at all.
        for row in rows:
            row.setdefault("tools", "[]")
    return rows


def _convert(example: dict[str, Any], *, line: int) -> dict[str, Any]:
    source = example.get("input")
    if not isinstance(source, dict) or not isinstance(source.get("messages"), list):
        raise TrainingError(f"Line {line}: input.messages is missing.")
    row: dict[str, Any] = {
        "prompt": [_message(m) for m in source["messages"]],
        "chosen": [_message(m) for m in example["preferred_output"]],
        "rejected": [_message(m) for m in example["non_preferred_output"]],
    }
    if source.get("tools"):
        row["tools"] = json.dumps(source["tools"])  # TRL parses a JSON string per row
    return row


def _message(message: dict[str, Any]) -> dict[str, Any]:
    kept = {k: message[k] for k in _MESSAGE_KEYS if message.get(k) is not None}
    kept.setdefault("content", "")
    return kept
