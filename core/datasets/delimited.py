"""CSV and TSV, streamed row by row with the standard ``csv`` module.

``csv`` (not pandas) keeps memory at one row and gives each row's physical line
number; its field size limit is the guard against a single multi-GB cell.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from core.datasets.columns import ColumnMapping, map_columns, row_to_record
from core.datasets.limits import MAX_CSV_FIELD_BYTES
from core.datasets.records import ReadProblem, Record
from core.errors import DatasetError


def open_delimited(path: Path, *, delimiter: str) -> tuple[ColumnMapping, Iterator[Record]]:
    """Read the header now (so a bad header fails early) and stream the rows.

    Raises:
        DatasetError: ``not_utf8`` or ``unknown_columns`` for the header row;
            ``empty_file`` when there is no header at all.
    """
    csv.field_size_limit(MAX_CSV_FIELD_BYTES)
    # surrogateescape: a byte that is not UTF-8 is found in its own row (with its
    # line number) instead of failing whichever 8 KB block it was decoded with.
    handle = path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")
    # strict: a stray quote is reported with its row instead of silently
    # merging cells (what the lenient default does).
    reader = csv.reader(handle, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as exc:
        handle.close()
        raise DatasetError(
            f"The header row cannot be read: {exc}.", code=_code(exc), hint="Save it as CSV UTF-8."
        ) from exc
    if header is None:
        handle.close()
        raise DatasetError("The file has no rows.", code="empty_file", hint="Add a header row.")
    if not _is_utf8(header):
        handle.close()
        raise DatasetError(
            "The header row is not valid UTF-8.", code="not_utf8", hint="Save it as CSV UTF-8."
        )
    try:
        mapping = map_columns(header)
    except DatasetError:
        handle.close()
        raise
    return mapping, _rows(handle, reader, mapping)


def _is_utf8(row: list[str]) -> bool:
    """False when a cell holds an escaped non-UTF-8 byte (a lone surrogate)."""
    try:
        for cell in row:
            cell.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _code(exc: Exception) -> str:
    return "not_utf8" if isinstance(exc, UnicodeDecodeError) else "invalid_csv"


def _rows(handle: object, reader: Iterator[list[str]], mapping: ColumnMapping) -> Iterator[Record]:
    """One record per non-empty row; a broken row ends reading with a finding."""
    line = getattr(reader, "line_num", 1) + 1
    try:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (UnicodeDecodeError, csv.Error) as exc:
                big = "field larger than field limit" in str(exc)
                yield Record(
                    line,
                    None,
                    ReadProblem(
                        "field_too_large" if big else _code(exc),
                        f"Row cannot be read: {exc}; reading stopped here.",
                        f"Cells are limited to {MAX_CSV_FIELD_BYTES // 1_048_576} MB."
                        if big
                        else "Save the file as CSV UTF-8 with one header row.",
                    ),
                )
                return
            if not _is_utf8(row):
                problem = ReadProblem(
                    "not_utf8", "The row is not valid UTF-8.", "Save the file as CSV UTF-8."
                )
                yield Record(line, None, problem)
            elif any(cell.strip() for cell in row):
                yield row_to_record(row, mapping, line=line)
            line = getattr(reader, "line_num", line) + 1
    finally:
        close = getattr(handle, "close", None)
        if close is not None:
            close()
