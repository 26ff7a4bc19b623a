"""Training data: check a file with core's validator, then shape it for TRL.

Why here and not in the trainer: validation runs in the API process while the
job is ``validating_files`` (cheap, no torch), so a bad file fails fast with
core's findings; conversion runs in the trainer subprocess.

Formats and what is trained (DESIGN.md, "The worker"):

* chat ``{"messages": [...]}`` -> conversational prompt/completion: every turn
  before the final assistant message is the prompt, the final assistant turn is
  the completion, so only that turn is trained.
* ``{"prompt", "completion"}`` -> the completion is trained.
* ``{"text"}`` -> every token is trained (continued pre-training).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.datasets.formats import detect_example_format
from core.errors import TrainingError

MAX_FINDINGS_IN_MESSAGE = 5
_MESSAGE_KEYS = ("role", "content")


def check_training_file(path: Path, *, base_model: str) -> str | None:
    """Validate ``path`` with core; return an error message, or None when trainable.

    Parameters:
        path: the uploaded file on disk.
        base_model: the model's folder or hub id, so core counts tokens and
            checks limits for the open model being trained.
    """
    from core.errors import TunebotError
    from core.validation import validate_file

    try:
        report = validate_file(path, model=base_model)
    except TunebotError as exc:
        return exc.user_message()
    if report.verdict != "not_ready":
        if report.format not in ("chat", "prompt_completion", "text"):
            return (
                f"The worker cannot train {report.format!r} files; "
                "use chat, prompt/completion or text."
            )
        return None
    shown = report.errors[:MAX_FINDINGS_IN_MESSAGE]
    lines = [
        f"{f.code}" + (f" (line {f.line})" if f.line else "") + f": {f.message.rstrip('.')}"
        for f in shown
    ]
    more = len(report.errors) - len(shown)
    if more > 0:
        lines.append(f"... and {more} more")
    return (
        "The training file is not ready: "
        + "; ".join(lines)
        + (". Run `tunebot validate --fix` on it and upload the fixed file.")
    )


def load_examples(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file into TRL-shaped rows (see the module docstring).

    Raises:
        TrainingError: a line is not a trainable example or formats are mixed.
    """
    rows: list[dict[str, Any]] = []
    formats: set[str] = set()
    # As core's validator reads: a leading BOM skipped, lines ending at "\n" only.
    with path.open(encoding="utf-8-sig", newline="\n") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            example = json.loads(line)
            fmt = detect_example_format(example)
            formats.add(fmt)
            rows.append(_convert(example, fmt, line=number))
    if len(formats) > 1:
        raise TrainingError(f"The file mixes formats ({', '.join(sorted(formats))}).")
    if not rows:
        raise TrainingError("The file has no examples.")
    return rows


def _convert(example: dict[str, Any], fmt: str, *, line: int) -> dict[str, Any]:
    if fmt == "chat":
        messages = [{k: m.get(k) or "" for k in _MESSAGE_KEYS} for m in example["messages"]]
        if len(messages) < 2 or messages[-1]["role"] != "assistant":
            raise TrainingError(
                f"Line {line}: a chat example must end with an assistant message after a prompt."
            )
        return {"prompt": messages[:-1], "completion": messages[-1:]}
    if fmt == "prompt_completion":
        return {"prompt": str(example["prompt"]), "completion": str(example["completion"])}
    if fmt == "text":
        return {"text": str(example["text"])}
    raise TrainingError(f"Line {line}: the worker cannot train {fmt!r} examples.")
