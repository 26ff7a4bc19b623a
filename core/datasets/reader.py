"""One entry point that opens any supported dataset file.

JSONL is left to the caller to stream in chunks (:mod:`core.datasets.jsonl`),
because validation spreads those chunks over worker processes; every other
format comes back as an iterator of records.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.datasets.delimited import open_delimited
from core.datasets.json_array import iter_json_records
from core.datasets.records import ReadProblem, Record
from core.datasets.sniff import FileType, detect_file_type
from core.datasets.xlsx import open_xlsx
from core.errors import DatasetError


@dataclass(slots=True)
class OpenedDataset:
    """A dataset ready to read: its type, file-level notes, and records (not for JSONL)."""

    file_type: FileType
    records: Iterator[Record] | None = None
    notes: list[ReadProblem] = field(default_factory=list)


def open_dataset(path: Path, *, name: str | None = None) -> OpenedDataset:
    """Open ``path`` for reading, failing fast on anything that is not a dataset.

    Parameters:
        path: the file on disk.
        name: the name the person gave the file (its extension decides the type).

    Raises:
        DatasetError: with the finding ``code`` when the file cannot be read at all.
    """
    if not path.is_file():
        raise DatasetError(
            f"There is no file at {path}.", code="file_not_found", hint="Check the path."
        )
    file_type = detect_file_type(path, name=name)
    if file_type is FileType.JSONL:
        return OpenedDataset(file_type)
    if file_type is FileType.JSON:
        return OpenedDataset(file_type, iter_json_records(path))
    if file_type is FileType.XLSX:
        _mapping, notes, records = open_xlsx(path)
        return OpenedDataset(file_type, records, notes)
    delimiter = "," if file_type is FileType.CSV else "\t"
    mapping, rows = open_delimited(path, delimiter=delimiter)
    return OpenedDataset(file_type, rows, mapping.warnings())
