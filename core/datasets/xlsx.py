"""XLSX workbooks: first sheet only, after the zip directory has been vetted.

An ``.xlsx`` is a zip of XML. Before any parser touches it, the sizes the zip
directory declares are summed and compared with the caps in :mod:`limits`, so a
zip bomb (gigabytes declared in kilobytes) is refused without inflating a byte.
Formula cells are reported: pandas/calamine read the value Excel last computed,
never the formula.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from core.datasets.columns import ColumnMapping, map_columns, row_to_record
from core.datasets.limits import (
    MAX_XLSX_COMPRESSION_RATIO,
    MAX_XLSX_ENTRIES,
    MAX_XLSX_FILE_BYTES,
    MAX_XLSX_UNCOMPRESSED_BYTES,
)
from core.datasets.records import ReadProblem, Record
from core.errors import DatasetError

_BAD_XLSX_HINT = "Open it in Excel and save it again as .xlsx, or export CSV UTF-8."


def check_zip(path: Path) -> list[str]:
    """Vet the archive's directory and return its worksheet entry names.

    Raises:
        DatasetError: ``file_too_large``, ``zip_bomb`` or ``invalid_xlsx``.
    """
    size = path.stat().st_size
    if size > MAX_XLSX_FILE_BYTES:
        raise DatasetError(
            f"The workbook is {size / 1_048_576:.0f} MB; tunebot reads workbooks up to "
            f"{MAX_XLSX_FILE_BYTES // 1_048_576} MB.",
            code="file_too_large",
            hint="Export the sheet as CSV UTF-8 or JSONL, which are streamed.",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DatasetError(
            f"The workbook is damaged ({exc}).", code="invalid_xlsx", hint=_BAD_XLSX_HINT
        ) from exc
    declared = sum(entry.file_size for entry in entries)
    packed = sum(entry.compress_size for entry in entries) or 1
    if (
        len(entries) > MAX_XLSX_ENTRIES
        or declared > MAX_XLSX_UNCOMPRESSED_BYTES
        or declared / packed > MAX_XLSX_COMPRESSION_RATIO
    ):
        raise DatasetError(
            f"The workbook declares {declared / 1_048_576:,.0f} MB of content in "
            f"{packed / 1_048_576:,.2f} MB ({len(entries)} parts): it looks like a zip bomb, "
            "so tunebot did not open it.",
            code="zip_bomb",
            hint=f"Workbooks may hold up to {MAX_XLSX_UNCOMPRESSED_BYTES // 1_048_576} MB "
            "uncompressed; export the data as JSONL or CSV instead.",
        )
    sheets = [e.filename for e in entries if e.filename.startswith("xl/worksheets/")]
    if "xl/workbook.xml" not in {e.filename for e in entries} or not sheets:
        raise DatasetError(
            "The zip file is not an Excel workbook (no xl/workbook.xml).",
            code="invalid_xlsx",
            hint=_BAD_XLSX_HINT,
        )
    return sheets


def open_xlsx(path: Path) -> tuple[ColumnMapping, list[ReadProblem], Iterator[Record]]:
    """Read the first sheet: its column mapping, file-level notes, and its rows.

    Raises:
        DatasetError: see :func:`check_zip`; ``invalid_xlsx`` when the sheet
            cannot be parsed; ``empty_file`` or ``unknown_columns``.
    """
    sheets = check_zip(path)
    notes = []
    # pandas costs ~70 MB and half a second to import: only workbooks pay for it.
    import pandas as pd

    try:
        with pd.ExcelFile(path, engine="calamine") as book:
            names = [str(name) for name in book.sheet_names]
            frame = pd.read_excel(book, sheet_name=0, header=None, dtype=object, na_filter=False)
    except Exception as exc:  # calamine raises its own types for every kind of damage
        raise DatasetError(
            f"The workbook cannot be read ({type(exc).__name__}: {exc}).",
            code="invalid_xlsx",
            hint=_BAD_XLSX_HINT,
        ) from exc
    if len(names) > 1:
        notes.append(
            ReadProblem(
                "extra_sheets",
                f"Only the first sheet ({names[0]!r}) was read; {len(names) - 1} more ignored: "
                + ", ".join(repr(n) for n in names[1:6])
                + ("..." if len(names) > 6 else "")
                + ".",
                "Put all examples on the first sheet.",
            )
        )
    formulas = _count_formulas(path, sheets)
    if formulas:
        notes.append(
            ReadProblem(
                "formula_cell",
                f"The workbook has {formulas} formula cell(s); tunebot reads the value Excel last "
                "computed (empty when never computed), never the formula.",
                "Replace formulas with plain values if the text should be trained as written.",
            )
        )
    rows = frame.itertuples(index=False, name=None)
    for index, header in enumerate(rows):
        if any(str(cell).strip() for cell in header):
            mapping = map_columns(list(header), line=index + 1)
            return mapping, notes + mapping.warnings(), _records(rows, mapping, start=index + 2)
    raise DatasetError(
        "The first sheet has no rows.",
        code="empty_file",
        hint="Put a header row and examples on the first sheet.",
    )


def _records(
    rows: Iterator[tuple[object, ...]], mapping: ColumnMapping, *, start: int
) -> Iterator[Record]:
    for line, row in enumerate(rows, start=start):
        if any(str(cell).strip() for cell in row):
            yield row_to_record(row, mapping, line=line)


def _count_formulas(path: Path, sheets: list[str]) -> int:
    """Count ``<f>`` elements in the worksheets, reading each in bounded blocks."""
    count = 0
    with zipfile.ZipFile(path) as archive:
        for name in sheets:
            tail = b""
            with archive.open(name) as stream:
                while block := stream.read(1 << 20):
                    data = tail + block
                    count += data.count(b"<f>") + data.count(b"<f ")
                    tail = data[-2:]  # a 3-byte match never fits in it: no double count
    return count
