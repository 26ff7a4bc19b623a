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
from core.datasets.strict_json import RefusedJSON, loads

CHUNK_BYTES = 1 << 20
MAX_CHUNK_LINES = 8192
"""A chunk of 3-byte lines would otherwise hold 350,000 of them, and their
checked outcomes (a few hundred bytes each) would dwarf the chunk itself."""


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
    handle: BinaryIO,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_lines: int = MAX_CHUNK_LINES,
) -> Iterator[LineChunk | OverlongLine]:
    """Yield the file as chunks of whole lines, in order, with line numbers.

    Lines end at ``\n`` only (never at U+2028 or other characters
    ``str.splitlines`` breaks on). A chunk holds at most ``max_lines`` lines;
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
            yield from _pieces(complete, line_no, offset - len(pending), max_lines)
            line_no += complete.count(b"\n")
        if len(pending) > max_line_bytes:
            skip_line, skip_size, pending = line_no, len(pending), b""
    if skip_size >= 0:
        yield OverlongLine(skip_line, skip_size, offset)
    elif pending:
        yield LineChunk(line_no, pending, offset)


def _pieces(data: bytes, first_line: int, end_offset: int, max_lines: int) -> Iterator[LineChunk]:
    """``data`` (whole lines) as chunks of at most ``max_lines`` lines."""
    if data.count(b"\n") <= max_lines or not data.strip():  # blank lines have no outcome
        yield LineChunk(first_line, data, end_offset)
        return
    base = end_offset - len(data)
    start = 0
    while start < len(data):
        end = start
        for _ in range(max_lines):
            end = data.find(b"\n", end) + 1
            if end == 0:
                end = len(data)
                break
        yield LineChunk(first_line, data[start:end], base + end)
        first_line += max_lines
        start = end


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
        return loads(text), None
    except RefusedJSON as exc:
        return None, refused_problem(exc, raw)
    except json.JSONDecodeError as exc:
        # Some messages end in "at" ("Unterminated string starting at"): don't say it twice.
        where = "column" if exc.msg.endswith(" at") else "at column"
        return None, _invalid_json(f"{exc.msg} {where} {exc.colno}", raw)
    except RecursionError:
        return None, _invalid_json("the JSON is nested too deeply to be an example", raw)
    except ValueError as exc:  # e.g. an integer with more digits than Python allows
        return None, _invalid_json(str(exc), raw)


def refused_problem(exc: RefusedJSON, raw: bytes) -> ReadProblem:
    """The finding for JSON that Python would read but OpenAI refuses."""
    if exc.code == "duplicate_key":
        head = raw[:60].decode("utf-8", "replace")
        return ReadProblem(
            "duplicate_key",
            f"The line is ambiguous: {exc} (starts {head!r}).",
            "Keep one value per key in each object.",
        )
    return _invalid_json(str(exc), raw)


def _invalid_json(detail: str, raw: bytes) -> ReadProblem:
    head = raw[:60].decode("utf-8", "replace")
    fix = 'Each line must be one complete JSON object, e.g. {"messages": [...]}.'
    if raw.lstrip().startswith(b"["):
        fix = "This line holds a JSON array; JSONL needs one JSON object per line."
    return ReadProblem("invalid_json", f"The line is not JSON: {detail} (starts {head!r}).", fix)
