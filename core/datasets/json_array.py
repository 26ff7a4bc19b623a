"""``.json`` files: an array of examples, or an object holding one such array.

Elements are decoded one at a time with ``raw_decode`` so each keeps the line
it starts on, and a truncated file still yields every example before the break.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from core.datasets.limits import MAX_JSON_FILE_BYTES
from core.datasets.records import LocatedDatasetError, ReadProblem, Record
from core.datasets.sniff import UTF8_BOM
from core.datasets.strict_json import DECODER as STRICT
from core.datasets.strict_json import RefusedJSON
from core.errors import DatasetError

_DECODER = json.JSONDecoder()
"""Lenient: finds where a value ends; :data:`strict_json.DECODER` decides if it is allowed."""
_WS = " \t\r\n"
# A JSON string (escapes included), or a bracket outside strings.
_BRACKETS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def iter_json_records(path: Path) -> Iterator[Record]:
    """Find the list of examples now (so a broken file fails here) and iterate it.

    Raises:
        DatasetError: ``file_too_large``, ``not_utf8`` or ``invalid_json`` when
            the file's top level is not an array or an object holding one.
    """
    size = path.stat().st_size
    if size > MAX_JSON_FILE_BYTES:
        raise DatasetError(
            f"The .json file is {size / 1_048_576:.0f} MB; tunebot reads .json files up to "
            f"{MAX_JSON_FILE_BYTES // 1_048_576} MB because they must be parsed whole.",
            code="file_too_large",
            hint="Save it as JSONL (one example per line), which is streamed.",
        )
    try:
        text = path.read_bytes().removeprefix(UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"The file is not valid UTF-8 (byte offset {exc.start}).",
            code="not_utf8",
            hint="Save the file as UTF-8.",
        ) from exc
    start = _find_array(text)
    return _iter_elements(text, start)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _fail(text: str, pos: int, message: str) -> DatasetError:
    return LocatedDatasetError(
        message[0].upper() + message[1:],
        code="invalid_json",
        line=_line_at(text, pos),
        hint='A .json dataset is an array of examples ([{"messages": [...]}, ...]) or an '
        "object holding one such array; JSONL (one example per line) is preferred.",
    )


def _find_array(text: str) -> int:
    """Position just after the ``[`` that opens the list of examples.

    An object's members are walked without decoding their values (a 64 MB
    list decoded whole would cost gigabytes); only the keys are read.
    """
    pos = _skip_ws(text, 0)
    if text.startswith("[", pos):
        return pos + 1
    if not text.startswith("{", pos):
        raise _fail(text, pos, "the file does not start with [ or {.")
    try:
        members = _members(text, pos + 1)
    except (ValueError, RecursionError) as exc:
        raise _fail(text, pos, f"the file is not valid JSON ({exc}).") from exc
    if any(key in members for key in ("messages", "prompt", "completion", "text")):
        raise _fail(text, pos, "this is a single example; wrap it in [ ] or use JSONL.")
    lists = [key for key, start in members.items() if text.startswith("[", start)]
    if len(lists) != 1:
        found = ", ".join(lists) or "none"
        raise _fail(
            text, pos, f"expected an object holding exactly one list; lists found: {found}."
        )
    return members[lists[0]] + 1


def _members(text: str, pos: int) -> dict[str, int]:
    """Key -> position of its value, for the object whose ``{`` is just before ``pos``."""
    members: dict[str, int] = {}
    pos = _skip_ws(text, pos)
    if text.startswith("}", pos):
        return members
    while True:
        name, pos = _DECODER.raw_decode(text, pos)
        if not isinstance(name, str):
            raise ValueError("an object key must be a string")
        pos = _skip_ws(text, pos)
        if not text.startswith(":", pos):
            raise ValueError("expected ':' after a key")
        pos = _skip_ws(text, pos + 1)
        members[name] = pos
        pos = _skip_ws(text, _skip_value(text, pos))
        if text.startswith("}", pos):
            return members
        if not text.startswith(",", pos):
            raise ValueError("expected ',' or '}' between members")
        pos = _skip_ws(text, pos + 1)


def _skip_value(text: str, pos: int) -> int:
    """End of the JSON value at ``pos``; arrays and objects are matched, not decoded."""
    if not text.startswith(("[", "{"), pos):
        return int(_DECODER.raw_decode(text, pos)[1])
    depth = 0
    for match in _BRACKETS.finditer(text, pos):
        token = match.group()
        if token in "[{":
            depth += 1
        elif token in "]}":
            depth -= 1
            if depth == 0:
                return match.end()
    raise ValueError("the file ends inside an array or object (is it truncated?)")


def _iter_elements(text: str, pos: int) -> Iterator[Record]:
    line = _line_at(text, pos)
    counted = pos
    pos = _skip_ws(text, pos)
    if text.startswith("]", pos):
        return
    while pos < len(text):
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, end = STRICT.raw_decode(text, pos)
        except RefusedJSON as exc:
            record, resume = _refused_element(text, pos, exc, line)
            yield record
            if resume is None:
                return
            end = resume
        except (ValueError, RecursionError) as exc:
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or "too deep"
            yield Record(
                line,
                None,
                ReadProblem(
                    "invalid_json",
                    f"This array element is not valid JSON ({detail}); reading stopped here.",
                    "Check the file is complete (not truncated) and valid JSON.",
                ),
            )
            return
        else:
            yield Record(line, value)
        pos = _skip_ws(text, end)
        if text.startswith("]", pos):
            return
        if not text.startswith(",", pos):
            yield Record(
                _line_at(text, pos),
                None,
                ReadProblem(
                    "invalid_json",
                    "Expected ',' or ']' after the array element; reading stopped here.",
                    "Check the file is complete (not truncated) and valid JSON.",
                ),
            )
            return
        pos = _skip_ws(text, pos + 1)
    yield Record(
        _line_at(text, pos),
        None,
        ReadProblem(
            "invalid_json",
            "The file ends before the array is closed (is it truncated?).",
            "Check the file is complete and ends with ']'.",
        ),
    )


def _refused_element(text: str, pos: int, exc: RefusedJSON, line: int) -> tuple[Record, int | None]:
    """The finding for an element OpenAI would refuse, and where reading resumes
    (``None``: the element is broken beyond that too, so reading stops)."""
    fix = (
        "Keep one value per key in each object."
        if exc.code == "duplicate_key"
        else "Write numbers as plain decimals; NaN and Infinity are not JSON."
    )
    problem = ReadProblem(exc.code, f"This array element is refused: {exc}.", fix)
    record = Record(line, None, problem)
    try:
        return record, int(_DECODER.raw_decode(text, pos)[1])
    except (ValueError, RecursionError):
        return record, None
