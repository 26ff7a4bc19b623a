"""Column layouts of CSV/TSV/XLSX files, and CSV streaming."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.datasets.columns import map_columns, row_to_record
from core.datasets.delimited import open_delimited
from core.errors import DatasetError


def test_layouts_and_case_warnings() -> None:
    roles = map_columns([" System", "user", "Assistant", "notes"])
    assert roles.layout == "roles" and roles.columns == {"user": 1, "assistant": 2, "system": 0}
    assert [n.code for n in roles.warnings()] == ["column_name_case", "unused_column"]
    assert map_columns(["prompt", "completion"]).layout == "prompt_completion"
    assert map_columns(["messages"]).layout == "messages"
    with pytest.raises(DatasetError) as caught:
        map_columns(["question", "answer"], line=3)
    assert caught.value.code == "unknown_columns"


def test_rows_become_examples() -> None:
    roles = map_columns(["system", "user", "assistant"])
    record = row_to_record(["", "hi", 42.0], roles, line=2)
    assert record.data == {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "42"}]
    }
    messages = map_columns(["messages"])
    cell = '[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]'
    assert row_to_record([cell], messages, line=5).data == {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    }
    broken = row_to_record(["[{"], messages, line=6)
    assert broken.problem is not None and broken.problem.code == "invalid_json"
    short = row_to_record(["Be brief."], roles, line=7)  # missing cells count as empty
    assert short.data == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": ""},
            {"role": "assistant", "content": ""},
        ]
    }


def test_formula_cells_are_noted() -> None:
    mapping = map_columns(["user", "assistant"])
    assert [n.code for n in row_to_record(["=1+1", "fine"], mapping, line=2).notes] == [
        "formula_cell"
    ]
    assert row_to_record(["- a bullet", "3 - 2"], mapping, line=3).notes == ()


def test_csv_rows_stream_with_physical_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text('user,assistant\n"multi\nline",a\n,\nq2,a2\n', encoding="utf-8-sig")
    mapping, rows = open_delimited(path, delimiter=",")
    assert mapping.layout == "roles"
    assert [(r.line, r.data["messages"][0]["content"]) for r in rows] == [  # type: ignore[index]
        (2, "multi\nline"),
        (5, "q2"),
    ]
