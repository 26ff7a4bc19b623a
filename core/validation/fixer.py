"""``--fix``: write a clean OpenAI chat JSONL (and, with ``--split``, a validation file).

A second pass over the file, after validation decided which examples to drop
(those with errors, and repeats of an earlier example). Kept examples are
converted to chat when they are prompt/completion rows, padding whitespace is
stripped from texts, and keys the format does not use are removed; each kind of
change is listed in the report. Nothing else about the content changes.

Split naming: ``OUT.jsonl`` gets the training examples and ``OUT.valid.jsonl``
(the same name with ``.valid`` before the extension) the validation examples,
chosen by ``numpy.random.default_rng(seed)``, so the same seed gives the same split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.datasets.formats import detect_example_format
from core.datasets.jsonl import LineChunk, decode_line, iter_line_chunks
from core.datasets.reader import open_dataset
from core.datasets.sniff import UTF8_BOM, FileType
from core.validation.fingerprint import strip_texts
from core.validation.report import Change
from core.validation.safe_json import dumps_safe

MAX_CHANGES_PER_CODE = 1_000
_CHAT_KEYS = ("messages", "tools", "parallel_tool_calls", "functions")
_PREFERENCE_KEYS = ("input", "preferred_output", "non_preferred_output")


@dataclass(slots=True)
class FixResult:
    """What the fix pass wrote and changed."""

    written: int = 0
    validation_written: int = 0
    train_path: Path | None = None
    validation_path: Path | None = None
    changes: list[Change] = field(default_factory=list)
    change_counts: Counter[str] = field(default_factory=Counter)

    def change(
        self, code: str, message: str, *, line: int | None = None, example: int | None = None
    ) -> None:
        self.change_counts[code] += 1
        if self.change_counts[code] <= MAX_CHANGES_PER_CODE:
            self.changes.append(Change(code=code, message=message, line=line, example=example))


def validation_path_for(out: Path) -> Path:
    """``data.jsonl`` -> ``data.valid.jsonl``."""
    return out.with_name(f"{out.stem}.valid{out.suffix or '.jsonl'}")


def write_fixed(
    path: Path,
    file_type: FileType,
    *,
    out: Path,
    drop: Callable[[int], str | None],
    kept: int,
    split: float | None,
    seed: int,
) -> FixResult:
    """Write the kept examples of ``path`` to ``out`` (and the validation split).

    Parameters:
        drop: example index -> why it is dropped (one line for the report), or None.
        kept: how many examples are not dropped.
        split: fraction (0..1) of kept examples that go to the validation file.
    """
    result = FixResult(train_path=out)
    held_out = _validation_positions(kept, split, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    valid_path = validation_path_for(out) if split else None
    result.validation_path = valid_path
    with out.open("w", encoding="utf-8", newline="\n") as train:
        valid = valid_path.open("w", encoding="utf-8", newline="\n") if valid_path else None
        try:
            position = 0
            for index, line, data in _examples(path, file_type):
                why = drop(index)
                if why is not None:
                    result.change("dropped_example", why, line=line, example=index)
                    continue
                text = dumps_safe(_clean(data, result, line=line, example=index)) + "\n"
                if valid is not None and position < len(held_out) and held_out[position]:
                    valid.write(text)
                    result.validation_written += 1
                else:
                    train.write(text)
                    result.written += 1
                position += 1
        finally:
            if valid is not None:
                valid.close()
    _summarise(result)
    return result


def _validation_positions(kept: int, split: float | None, seed: int) -> npt.NDArray[np.bool_]:
    """A mask over the kept examples (1 byte each, not a set of Python ints)."""
    held_out = np.zeros(max(kept, 0), dtype=bool)
    if not split or kept < 2:
        return held_out
    size = min(kept - 1, max(1, round(kept * split)))
    held_out[np.random.default_rng(seed).choice(kept, size, replace=False)] = True
    return held_out


def _examples(path: Path, file_type: FileType) -> Iterator[tuple[int, int, object]]:
    """(example index, line, decoded data) in the same order validation numbered them."""
    index = 0
    if file_type is FileType.JSONL:
        with path.open("rb") as handle:
            for item in iter_line_chunks(handle):
                if not isinstance(item, LineChunk):
                    index += 1
                    continue
                data = item.data.removeprefix(UTF8_BOM) if item.first_line == 1 else item.data
                for offset, raw in enumerate(data.split(b"\n")):
                    if raw.strip():
                        value, _problem = decode_line(raw.strip())
                        yield index, item.first_line + offset, value
                        index += 1
        return
    records = open_dataset(path).records
    for record in records or ():
        yield index, record.line, record.data
        index += 1


def _clean(data: object, result: FixResult, *, line: int, example: int) -> object:
    """The example in chat form (or its own form for preference/text), texts stripped."""
    assert isinstance(data, dict), "examples with errors are dropped before cleaning"
    fmt = detect_example_format(data)
    allowed = {
        "chat": _CHAT_KEYS,
        "preference": _PREFERENCE_KEYS,
        "prompt_completion": ("prompt", "completion"),
    }.get(fmt, ("text",))
    removed = [key for key in data if key not in allowed]
    if removed:
        result.change(
            "removed_keys",
            "Removed key(s) " + ", ".join(map(repr, removed)) + " the format does not use.",
            line=line,
            example=example,
        )
    cleaned = {key: value for key, value in data.items() if key in allowed}
    if fmt == "prompt_completion":
        cleaned = {
            "messages": [
                {"role": "user", "content": cleaned["prompt"]},
                {"role": "assistant", "content": cleaned["completion"]},
            ]
        }
        result.change_counts["converted_to_chat"] += 1
    stripped = strip_texts(cleaned)
    if stripped:
        result.change(
            "stripped_whitespace",
            f"Stripped leading/trailing whitespace from {stripped} text(s).",
            line=line,
            example=example,
        )
    return cleaned


def _summarise(result: FixResult) -> None:
    converted = result.change_counts.get("converted_to_chat", 0)
    if converted:
        result.changes.insert(
            0,
            Change(
                code="converted_to_chat",
                message=f"Converted {converted} "
                "prompt/completion example(s) to chat (user -> assistant).",
            ),
        )
    for code, count in result.change_counts.items():
        if code != "converted_to_chat" and count > MAX_CHANGES_PER_CODE:
            result.changes.append(
                Change(
                    code=code,
                    message=f"... and {count - MAX_CHANGES_PER_CODE}"
                    f" more {code} change(s) not listed.",
                )
            )
