"""File type detection from name and first bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.datasets.sniff import FileType, detect_file_type
from core.errors import DatasetError


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.jsonl", b'{"messages": []}\n', FileType.JSONL),
        ("a.ndjson", b"{}\n", FileType.JSONL),
        ("a.json", b"[]", FileType.JSON),
        ("a.CSV", b"user,assistant\n", FileType.CSV),
        ("a.tsv", b"user\tassistant\n", FileType.TSV),
        ("upload", b'\xef\xbb\xbf  {"messages": []}', FileType.JSONL),
        ("upload.dat", b"[{}]", FileType.JSON),
        ("book.xlsx", b"PK\x03\x04rest", FileType.XLSX),
        ("noext", b"PK\x03\x04rest", FileType.XLSX),
    ],
)
def test_detects_type(tmp_path: Path, name: str, content: bytes, expected: FileType) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert detect_file_type(path) is expected


@pytest.mark.parametrize(
    ("content", "name", "code"),
    [
        (b"", "a.jsonl", "empty_file"),
        ('{"a": 1}'.encode("utf-16"), "a.jsonl", "not_utf8"),
        ('{"a": 1}\n{"b": 2}\n'.encode("utf-16-be"), "a.jsonl", "not_utf8"),
        ('{"a": 1}'.encode("utf-32"), "a.jsonl", "not_utf8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "a.jsonl", "binary_file"),
        (b"\xd0\xcf\x11\xe0" + b"\x00" * 10, "a.xls", "unsupported_file_type"),
        (b"user,assistant\n", "a.xlsx", "unsupported_file_type"),
        (b"PK\x03\x04", "a.csv", "unsupported_file_type"),
        (b"plain words", "notes.txt", "unsupported_file_type"),
    ],
)
def test_refuses_with_code(tmp_path: Path, content: bytes, name: str, code: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError) as caught:
        detect_file_type(path)
    assert caught.value.code == code and caught.value.hint
