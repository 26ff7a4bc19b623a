"""Streaming JSONL: the file is read in blocks and cut into whole lines.

Only one block (plus at most one unfinished line) is in memory at a time. A line
longer than :data:`MAX_LINE_BYTES` is skipped in bounded steps and reported, so
a 50 MB single line costs 8 MB, not 50. Chunks of whole lines are also the unit
of work handed to the validation worker processes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from core.datasets.limits import MAX_LINE_BYTES
from core.datasets.records import ReadProblem

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class LineChunk:
    """Whole lines from the file; ``first_line`` is the 1-based number of the first."""

    first_line: int
    data: bytes
    end_offset: int


@dataclass(frozen=True, slots=True)
class OverlongLine:
    """A line that was too long to hold; ``size`` is its length in bytes."""

    line: int
    size: int
    end_offset: int


def iter_line_chunks(
    handle: BinaryIO, *, chunk_bytes: int = CHUNK_BYTES, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[LineChunk | OverlongLine]:
    """Yield the file as chunks of whole lines, in order, with line numbers.

    ``end_offset`` is how far into the file the chunk reaches (for progress).
    """
    line_no = 1
    offset = 0
    pending = b""
    skip_line = 0
    skip_size = -1  # >= 0 while discarding an overlong line
    while block := handle.read(chunk_bytes):
        offset += len(block)
        if skip_size >= 0:
            newline = block.find(b"\n")
            if newline < 0:
                skip_size += len(block)
                continue
            yield OverlongLine(skip_line, skip_size + newline, offset - len(block) + newline + 1)
            line_no, skip_size, block = skip_line + 1, -1, block[newline + 1 :]
        data = pending + block if pending else block
        last = data.rfind(b"\n")
        pending = data[last + 1 :]
        if last >= 0:
            complete = data[: last + 1]
            yield LineChunk(line_no, complete, offset - len(pending))
            line_no += complete.count(b"\n")
        if len(pending) > max_line_bytes:
            skip_line, skip_size, pending = line_no, len(pending), b""
    if skip_size >= 0:
        yield OverlongLine(skip_line, skip_size, offset)
    elif pending:
        yield LineChunk(line_no, pending, offset)


def overlong_problem(size: int, *, max_line_bytes: int = MAX_LINE_BYTES) -> ReadProblem:
    """The finding for a line too long to be one training example."""
    return ReadProblem(
        "line_too_long",
        f"The line is {size / 1_048_576:.1f} MB; no training example can be that long "
        f"(tunebot reads lines up to {max_line_bytes // 1_048_576} MB).",
        "Check that the file has one example per line (JSONL), not one huge JSON value.",
    )


def decode_line(raw: bytes) -> tuple[object, ReadProblem | None]:
    """Decode one non-blank JSONL line; a problem comes back instead of raising."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, ReadProblem(
            "not_utf8",
            f"The line is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}).",
            "Save the file as UTF-8.",
        )
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        # Some messages end in "at" ("Unterminated string starting at"): don't say it twice.
        where = "column" if exc.msg.endswith(" at") else "at column"
        return None, _invalid_json(f"{exc.msg} {where} {exc.colno}", raw)
    except RecursionError:
        return None, _invalid_json("the JSON is nested too deeply to be an example", raw)
    except ValueError as exc:  # e.g. an integer with more digits than Python allows
        return None, _invalid_json(str(exc), raw)


def _invalid_json(detail: str, raw: bytes) -> ReadProblem:
    head = raw[:60].decode("utf-8", "replace")
    fix = 'Each line must be one complete JSON object, e.g. {"messages": [...]}.'
    if raw.lstrip().startswith(b"["):
        fix = "This line holds a JSON array; JSONL needs one JSON object per line."
    return ReadProblem("invalid_json", f"The line is not JSON: {detail} (starts {head!r}).", fix)
