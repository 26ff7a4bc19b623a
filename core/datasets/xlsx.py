"""XLSX workbooks: first sheet only, after the zip directory has been vetted.

An ``.xlsx`` is a zip of XML. Before any parser touches it, the sizes the zip
directory declares are summed and compared with the caps in :mod:`limits`, so a
zip bomb (gigabytes declared in kilobytes) is refused without inflating a byte.
Rows are streamed (:mod:`core.datasets.sheet_xml`), so memory stays bounded
whatever the sheet holds. Formula cells are reported: the value Excel last
computed is read, never the formula.
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
from core.datasets.sheet_xml import Row, SharedStrings, SheetError, iter_rows, workbook_sheets
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
    """Read the first sheet: its column mapping, file-level notes, and its rows (streamed).

    Raises:
        DatasetError: see :func:`check_zip`; ``invalid_xlsx`` when the workbook
            cannot be parsed up to its header row; ``empty_file`` or ``unknown_columns``.
    """
    sheets = check_zip(path)
    archive = zipfile.ZipFile(path)
    shared = SharedStrings()
    try:
        names, first = _first_sheet(archive, sheets)
        if "xl/sharedStrings.xml" in archive.namelist():
            with archive.open("xl/sharedStrings.xml") as stream:
                shared.load(stream)
        rows = _stream_rows(archive, first, shared)
        header = _header(rows)
    except (SheetError, zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
        archive.close()
        shared.close()
        raise DatasetError(
            f"The workbook cannot be read: {exc}.", code="invalid_xlsx", hint=_BAD_XLSX_HINT
        ) from exc
    except BaseException:
        archive.close()
        shared.close()
        raise
    if header is None:
        archive.close()
        shared.close()
        raise DatasetError(
            "The first sheet has no rows.",
            code="empty_file",
            hint="Put a header row and examples on the first sheet.",
        )
    notes = _notes(path, sheets, names)
    line, cells = header
    try:
        mapping = map_columns(_as_list(cells, width=max(cells) + 1), line=line)
    except DatasetError:
        archive.close()
        shared.close()
        raise
    width = max(mapping.columns.values()) + 1
    records = _records(rows, mapping, width=width, closing=(archive, shared))
    return mapping, notes + mapping.warnings(), records


def _first_sheet(archive: zipfile.ZipFile, sheets: list[str]) -> tuple[list[str], str]:
    """The sheet names in workbook order, and the zip path of the first sheet."""
    rels_name = "xl/_rels/workbook.xml.rels"
    with archive.open("xl/workbook.xml") as book:
        rels = archive.open(rels_name) if rels_name in archive.namelist() else None
        try:
            listed = workbook_sheets(book, rels)
        finally:
            if rels is not None:
                rels.close()
    names = [name for name, _ in listed] or ["(unnamed)"]
    first = listed[0][1] if listed else None
    if first not in sheets:
        first = sorted(sheets)[0]  # damaged relationships: the lowest-numbered sheet part
    return names, first


def _stream_rows(archive: zipfile.ZipFile, name: str, shared: SharedStrings) -> Iterator[Row]:
    with archive.open(name) as stream:
        yield from iter_rows(stream, shared)


def _header(rows: Iterator[Row]) -> Row | None:
    for line, cells in rows:
        if any(text.strip() for text in cells.values()):
            return line, cells
    return None


def _as_list(cells: dict[int, str], *, width: int) -> list[str]:
    return [cells.get(index, "") for index in range(width)]


def _notes(path: Path, sheets: list[str], names: list[str]) -> list[ReadProblem]:
    notes = []
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
    return notes


def _records(
    rows: Iterator[Row],
    mapping: ColumnMapping,
    *,
    width: int,
    closing: tuple[zipfile.ZipFile, SharedStrings],
) -> Iterator[Record]:
    line = 0
    try:
        for line, cells in rows:
            if any(text.strip() for text in cells.values()):
                yield row_to_record(_as_list(cells, width=width), mapping, line=line)
    except (SheetError, zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
        yield Record(
            line + 1,
            None,
            ReadProblem(
                "invalid_xlsx", f"The sheet cannot be read past here: {exc}.", _BAD_XLSX_HINT
            ),
        )
    finally:
        for resource in closing:
            resource.close()


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
