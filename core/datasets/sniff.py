"""Tell what kind of file this is before reading it.

The extension says what the person meant; the first bytes say what the file
is. Both are checked so a UTF-16 export, a renamed binary or an old ``.xls``
gets a precise message instead of thousands of ``invalid_json`` lines.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from core.datasets.limits import SNIFF_BYTES
from core.errors import DatasetError

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_RECODE_HINT = (
    "Save it as UTF-8 (in Excel: 'CSV UTF-8'; on the command line: "
    "`iconv -f UTF-16 -t UTF-8 in.jsonl > out.jsonl`) and upload it again."
)


class FileType(StrEnum):
    """The containers tunebot reads."""

    JSONL = "jsonl"
    JSON = "json"
    CSV = "csv"
    TSV = "tsv"
    XLSX = "xlsx"


_BY_SUFFIX = {
    ".jsonl": FileType.JSONL,
    ".ndjson": FileType.JSONL,
    ".json": FileType.JSON,
    ".csv": FileType.CSV,
    ".tsv": FileType.TSV,
    ".tab": FileType.TSV,
    ".xlsx": FileType.XLSX,
}


def detect_file_type(path: Path, *, name: str | None = None) -> FileType:
    """Decide how to read ``path`` from its name and its first bytes.

    Parameters:
        path: the file on disk.
        name: the name the person gave it (a Slack upload may be stored under
            a temporary name); defaults to ``path.name``.

    Raises:
        DatasetError: ``empty_file``, ``not_utf8`` (UTF-16/32), ``binary_file``
            or ``unsupported_file_type``; the file cannot be read at all.
    """
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        raise DatasetError(
            "The file is empty.", code="empty_file", hint="Upload a file with training examples."
        )
    suffix = Path(name or path.name).suffix.lower()
    if head.startswith(_ZIP_MAGIC):
        if suffix in ("", ".xlsx", ".xlsm", ".zip") or suffix not in _BY_SUFFIX:
            return FileType.XLSX
        raise DatasetError(
            f"The file is named {suffix} but is a zip archive (an Excel workbook or a zip).",
            code="unsupported_file_type",
            hint="Rename an Excel workbook to .xlsx, or upload the data itself as JSONL.",
        )
    if head.startswith(_OLE_MAGIC):
        raise DatasetError(
            "This is an old Excel (.xls) workbook, which tunebot does not read.",
            code="unsupported_file_type",
            hint="Save it as .xlsx or CSV UTF-8 and upload it again.",
        )
    _refuse_non_utf8(head)
    by_suffix = _BY_SUFFIX.get(suffix)
    if by_suffix is FileType.XLSX:
        raise DatasetError(
            "The file is named .xlsx but is not an Excel workbook (no zip header).",
            code="unsupported_file_type",
            hint="Export it again from Excel, or upload it as CSV or JSONL.",
        )
    if by_suffix is not None:
        return by_suffix
    return _guess_text_type(head, suffix)


def _refuse_non_utf8(head: bytes) -> None:
    """UTF-16/32 and binary files fail here, with the offset that gave them away."""
    if head.startswith(_UTF32_BOMS) or head.startswith(_UTF16_BOMS):
        raise DatasetError(
            "The file is UTF-16 or UTF-32 encoded (it starts with a byte-order mark); "
            "tunebot and OpenAI read UTF-8 only.",
            code="not_utf8",
            hint=_RECODE_HINT,
        )
    nul = head.find(b"\x00")
    if nul < 0:
        return
    even = head[0::2].count(0)
    odd = head[1::2].count(0)
    if max(even, odd) > len(head) // 4 and min(even, odd) < len(head) // 50 + 1:
        raise DatasetError(
            "The file looks UTF-16 encoded (every other byte is zero); "
            "tunebot and OpenAI read UTF-8 only.",
            code="not_utf8",
            hint=_RECODE_HINT,
        )
    raise DatasetError(
        f"The file is binary (a zero byte at offset {nul}), not a text dataset.",
        code="binary_file",
        hint="Upload a JSONL, JSON, CSV, TSV or XLSX file.",
    )


def _guess_text_type(head: bytes, suffix: str) -> FileType:
    text = head.removeprefix(UTF8_BOM).lstrip()
    if text.startswith(b"{"):
        return FileType.JSONL
    if text.startswith(b"["):
        return FileType.JSON
    shown = suffix or "(no extension)"
    raise DatasetError(
        f"tunebot cannot tell what kind of dataset a {shown} file is.",
        code="unsupported_file_type",
        hint="Use .jsonl (recommended), .json, .csv, .tsv or .xlsx.",
    )
