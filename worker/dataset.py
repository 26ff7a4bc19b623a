"""Training data: check a file with core's validator, then tokenize it for TRL.

Why here and not in the trainer: validation runs in the API process while the
job is ``validating_files`` (cheap, no torch), so a bad file fails fast with
core's findings; tokenization runs in the trainer subprocess.

Both sides tokenize through core's
:class:`~core.tokens.sequences.SequenceBuilder` on the base model's own
tokenizer folder: the validator counts the very sequences the trainer trains,
so the job's ``trained_tokens`` is the report's billed tokens times the epochs.
What carries loss (DESIGN.md, "The worker"; details in that module):

* chat ``{"messages": [...]}`` -> rendered with the model's chat template
  (``tools`` included); every assistant message not marked ``"weight": 0`` is
  trained, through its end-of-turn token; system, user and tool messages are
  context.
* ``{"prompt", "completion"}`` -> the completion (plus EOS) is trained.
* ``{"text"}`` -> every token is trained (continued pre-training).

Rows reach TRL pre-tokenized (``input_ids`` and ``labels``), so TRL trains
them as they are and never re-renders them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.datasets.formats import detect_example_format
from core.errors import DatasetError, TrainingError
from core.tokens.sequences import SequenceBuilder, TrainingSequence

MAX_FINDINGS_IN_MESSAGE = 5
#: What a hub id's tokenizer needs, fetched without the weights.
_TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja"]


def tokenizer_folder(base_model: str) -> Path:
    """The local folder holding ``base_model``'s tokenizer and chat template.

    A worker model is a local folder or a Hugging Face id (DESIGN.md); for an id
    the tokenizer files come from the local cache, or are fetched on a worker
    that may download models (as ``from_pretrained`` would for training).
    """
    path = Path(base_model).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(base_model, allow_patterns=_TOKENIZER_FILES))


def check_training_file(
    path: Path, *, base_model: str, max_seq_length: int | None = None, method: str = "supervised"
) -> str | None:
    """Validate ``path`` with core; return an error message, or None when trainable.

    Parameters:
        path: the uploaded file on disk.
        base_model: the model's folder or hub id, so core counts tokens with the
            model's own tokenizer and chat template, as the trainer will.
        max_seq_length: the job's limit per example; a longer example would be
            truncated, so it is refused here instead of being trained in part.
        method: the job's ``method.type``; "dpo" trains preference files only.
    """
    from core.config import load_validation_settings
    from core.errors import TunebotError
    from core.validation import validate_file

    try:
        # The worker's own environment decides prices and file limits; the
        # model's folder decides the tokenizer and template.
        report = validate_file(
            path,
            model=str(tokenizer_folder(base_model)),
            max_tokens=max_seq_length,
            settings=load_validation_settings(),
        )
    except TunebotError as exc:
        return exc.user_message()
    if report.verdict != "not_ready":
        if method == "dpo" or report.format == "preference":
            return _method_mismatch(report.format, method)
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
    advice = "Run `tunebot validate --fix` on it and upload the fixed file."
    if any(f.code == "too_many_tokens" for f in report.errors):
        advice += " Or raise the job's max_seq_length."
    return "The training file is not ready: " + "; ".join(lines) + ". " + advice


def _method_mismatch(fmt: str, method: str) -> str | None:
    """Preference files train with DPO and DPO trains nothing else (see worker.preference)."""
    if fmt == "preference" and method == "dpo":
        return None
    if fmt == "preference":
        return (
            "This is a preference (DPO) file; start the job with "
            'method {"type": "dpo"} to train on it.'
        )
    return (
        f"A DPO job needs a preference file (input.messages, preferred_output, "
        f"non_preferred_output), not {fmt!r} data; use method 'supervised' for this file."
    )


def load_examples(path: Path, *, base_model: str) -> list[dict[str, Any]]:
    """Read a JSONL file into pre-tokenized TRL rows (``input_ids``, ``labels``).

    Raises:
        TrainingError: a line is not a trainable example, the model's template
            refuses it, or formats are mixed.
    """
    builder = SequenceBuilder(tokenizer_folder(base_model))
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
            sequence = _tokenize(builder, example, fmt, line=number)
            rows.append({"input_ids": sequence.input_ids, "labels": sequence.labels()})
    if len(formats) > 1:
        raise TrainingError(f"The file mixes formats ({', '.join(sorted(formats))}).")
    if not rows:
        raise TrainingError("The file has no examples.")
    return rows


def _tokenize(
    builder: SequenceBuilder, example: dict[str, Any], fmt: str, *, line: int
) -> TrainingSequence:
    try:
        if fmt == "chat":
            tools = example.get("tools")
            return builder.chat(example["messages"], tools=tools if tools else None)
        if fmt == "prompt_completion":
            return builder.prompt_completion(str(example["prompt"]), str(example["completion"]))
        if fmt == "text":
            return builder.text(str(example["text"]))
    except DatasetError as error:
        raise TrainingError(f"Line {line}: {error.user_message()}") from error
    raise TrainingError(f"Line {line}: the worker cannot train {fmt!r} examples.")
