""".json files: arrays and objects holding one list, with element line numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.datasets.json_array import iter_json_records
from core.datasets.records import LocatedDatasetError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.json"
    path.write_text(text)
    return path


def test_array_elements_keep_their_lines(tmp_path: Path) -> None:
    text = json.dumps([{"text": "a"}, {"text": "b"}, {"text": "c"}], indent=2)
    records = list(iter_json_records(write(tmp_path, text)))
    assert [(r.line, r.data) for r in records] == [
        (2, {"text": "a"}),
        (5, {"text": "b"}),
        (8, {"text": "c"}),
    ]


def test_object_holding_one_list(tmp_path: Path) -> None:
    text = json.dumps({"name": "set", "meta": {"x": [1]}, "examples": [{"text": "a"}]}, indent=1)
    assert [r.data for r in iter_json_records(write(tmp_path, text))] == [{"text": "a"}]


def test_empty_array(tmp_path: Path) -> None:
    assert list(iter_json_records(write(tmp_path, " [ ] "))) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"a": [1], "b": [2]}', "exactly one list"),
        ('{"messages": []}', "single example"),
        ("42", "does not start"),
        ('{"a": [1, }', "not valid JSON"),
    ],
)
def test_bad_top_level(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(LocatedDatasetError) as caught:
        iter_json_records(write(tmp_path, text))
    assert fragment in caught.value.message and caught.value.line == 1


def test_truncated_array_yields_what_it_can(tmp_path: Path) -> None:
    records = list(iter_json_records(write(tmp_path, '[\n{"text": "a"},\n{"text": "b"')))
    assert records[0].data == {"text": "a"}
    assert records[-1].problem is not None and records[-1].line == 3
    unclosed = list(iter_json_records(write(tmp_path, '[{"text": "a"},')))
    assert unclosed[-1].problem is not None and "ends before" in unclosed[-1].problem.message
