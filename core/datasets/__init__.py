"""Reading dataset files (JSONL, JSON, CSV, TSV, XLSX) into examples with positions.

Readers never raise for a bad example: it becomes a :class:`Record` with a
:class:`ReadProblem`. Only a file that cannot be read at all raises
:class:`core.errors.DatasetError`, whose ``code`` is a finding code.
"""

from core.datasets.formats import ExampleFormat, detect_example_format, file_format
from core.datasets.jsonl import LineChunk, OverlongLine, decode_line, iter_line_chunks
from core.datasets.reader import OpenedDataset, open_dataset
from core.datasets.records import ReadProblem, Record
from core.datasets.sniff import FileType, detect_file_type

__all__ = [
    "ExampleFormat",
    "FileType",
    "LineChunk",
    "OpenedDataset",
    "OverlongLine",
    "ReadProblem",
    "Record",
    "decode_line",
    "detect_example_format",
    "detect_file_type",
    "file_format",
    "iter_line_chunks",
    "open_dataset",
]
