"""The bad-input corpus: nothing crashes, each file gets its finding and line.

Small files are committed in tests/fixtures/bad (see its README); the big ones
(50 MB single line, zip bomb, oversized CSV cell) are generated into tmp_path.
"""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from core.datasets.limits import MAX_CSV_FIELD_BYTES
from core.tokens import get_encoding
from tests.core.validation.helpers import FIXTURES, codes, findings, good_rows, run, write_jsonl

BAD = FIXTURES / "bad"

# file -> (code, line of its first finding, readable)
CORPUS = {
    "truncated.jsonl": ("invalid_json", 12, True),
    "garbage.jsonl": ("invalid_json", 1, True),
    "binary.jsonl": ("binary_file", 1, False),
    "utf16.jsonl": ("not_utf8", 1, False),
    "utf16_nobom.jsonl": ("not_utf8", 1, False),
    "bom.jsonl": ("utf8_bom", 1, True),
    "empty.jsonl": ("empty_file", None, True),
    "blank_lines_only.jsonl": ("empty_file", None, True),
    "deep.jsonl": ("invalid_json", 12, True),
    "wrong_types.jsonl": ("data_type", 1, True),
    "truncated.json": ("invalid_json", 13, True),
    "garbage.json": ("invalid_json", 1, False),
    "single_example.json": ("invalid_json", 1, False),
    "old_excel.xls": ("unsupported_file_type", 1, False),
    "not_a_workbook.xlsx": ("unsupported_file_type", 1, False),
    "unknown_extension.txt": ("unsupported_file_type", 1, False),
    "formula.csv": ("formula_cell", 13, True),
    "no_known_columns.csv": ("unknown_columns", 1, False),
}


def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in BAD.iterdir() if p.name != "README.md"}
    assert on_disk == set(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_file_gets_its_finding(name: str) -> None:
    code, line, readable = CORPUS[name]
    report = run(BAD / name)
    hits = findings(report, code)
    assert hits, f"{name}: expected {code}, got {codes(report)}"
    assert hits[0].line == line
    assert report.readable is readable
    assert all(f.message and f.code for f in report.errors + report.warnings)
    if code != "utf8_bom" and code != "formula_cell":
        assert report.verdict == "not_ready"


def test_wrong_types_at_every_level_each_line_reported() -> None:
    report = run(BAD / "wrong_types.jsonl")
    error_lines = {f.line for f in report.errors}
    assert set(range(1, 17)) <= error_lines
    assert {
        "data_type",
        "missing_messages_list",
        "unrecognized_role",
        "invalid_weight",
        "invalid_tool_call",
        "invalid_tools",
        "invalid_preference",
    } <= codes(report)


def test_fifty_megabyte_line_is_bounded(tmp_path: Path) -> None:
    """A 50 MB line is skipped in bounded steps: Python allocations stay far below it."""
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as out:
        for row in good_rows(11):
            out.write(json.dumps(row).encode() + b"\n")
        out.write(b'{"messages": [{"role": "user", "content": "' + b"x" * 50_000_000 + b'"}]}\n')
        out.write(json.dumps(good_rows(1, start=99)[0]).encode() + b"\n")
    get_encoding("o200k_base")  # loaded (and cached) outside the measurement
    tracemalloc.start()
    try:
        report = run(path, workers=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(f.code, f.line) for f in report.errors] == [("line_too_long", 12)]
    assert report.examples == 13
    assert peak < 30 * 1_048_576, f"peak {peak / 1_048_576:.1f} MB"  # the line alone is 50 MB


def _sheet_xml(rows: int) -> str:
    cells = "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>q</t></is></c></row>' for r in range(rows)
    )
    return (
        '<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        f'spreadsheetml/2006/main"><sheetData>{cells}</sheetData></worksheet>'
    )


def test_zip_bomb_workbook_is_refused_before_parsing(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        # 30 MB of padding compresses ~1000:1.
        archive.writestr("xl/worksheets/sheet1.xml", _sheet_xml(1) + " " * 30_000_000)
    assert bomb.stat().st_size < 200_000
    report = run(bomb)
    assert codes(report) == {"zip_bomb"} and not report.readable
    assert "zip bomb" in report.errors[0].message


def test_oversized_csv_cell(tmp_path: Path) -> None:
    path = tmp_path / "big_cell.csv"
    with path.open("w") as out:
        out.write("user,assistant\n" + "hi,there\n" * 3)
        out.write('"' + "y" * (MAX_CSV_FIELD_BYTES + 10) + '",x\n')
    [hit] = findings(run(path), "field_too_large")
    assert hit.line == 5


def test_workbook_extra_sheets_and_formulas(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Prompt", "Completion"])
    for i in range(12):
        sheet.append([f"Question {i}?", f"Answer {i}."])
    sheet["A15"] = '=HYPERLINK("http://evil.example","click")'
    sheet["B15"] = "Fine."
    book.create_sheet("Notes")
    path = tmp_path / "book.xlsx"
    book.save(path)
    report = run(path)
    assert {"extra_sheets", "formula_cell", "column_name_case", "legacy_format"} <= codes(report)
    assert report.examples == 13 and report.format == "prompt_completion"
    # openpyxl never computed the formula, so its cached value (what is read) is empty.
    assert [(f.line, f.message) for f in findings(report, "missing_content")] == [
        (15, "The prompt is empty.")
    ]


def test_bad_records_then_good_ones_keep_line_numbers(tmp_path: Path) -> None:
    rows = ["not json", b"\xff\xfe{}", "", *good_rows(12)]
    report = run(write_jsonl(tmp_path / "mixed.jsonl", rows))
    assert [(f.code, f.line) for f in report.errors] == [("invalid_json", 1), ("not_utf8", 2)]
    assert report.examples == 14  # the blank line is not an example


def test_lone_surrogate_escapes(tmp_path: Path) -> None:
    reply = '{"role": "assistant", "content": "ok"}'
    lone = '{"messages": [{"role": "user", "content": "hi \\ud83d"}, ' + reply + "]}"
    pair = '{"messages": [{"role": "user", "content": "hi \\ud83d\\ude00"}, ' + reply + "]}"
    report = run(write_jsonl(tmp_path / "s.jsonl", [*good_rows(11), lone, pair]))
    assert [(f.code, f.line) for f in report.errors] == [("not_utf8", 12)]
    array = tmp_path / "s.json"
    array.write_text("[" + ",\n".join([*map(json.dumps, good_rows(11)), lone]) + "]")
    assert [(f.code, f.line) for f in run(array).errors] == [("not_utf8", 12)]


def _raw_workbook(path: Path, sheet_xml: str, *, shared: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(
            "xl/workbook.xml", '<workbook><sheets><sheet name="S"/></sheets></workbook>'
        )
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        if shared is not None:
            archive.writestr("xl/sharedStrings.xml", shared)
    return path


def test_workbook_cell_at_the_last_column_and_row_costs_nothing(tmp_path: Path) -> None:
    """calamine sized its grid from this one cell (512 GB) and aborted the process."""
    rows = "".join(
        f'<row r="{r}"><c r="A{r}" t="s"><v>{2 * r - 2}</v></c><c r="B{r}" t="s"><v>{2 * r - 1}'
        "</v></c></row>"
        for r in range(2, 14)
    )
    texts = ["prompt", "completion"] + [x for i in range(12) for x in (f"Q{i}?", f"A{i}.")]
    shared = "<sst>" + "".join(f"<si><t>{t}</t></si>" for t in texts) + "</sst>"
    header = '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
    far = '<row r="1048576"><c r="XFD1048576"><v>7</v></c></row>'
    path = _raw_workbook(
        tmp_path / "far.xlsx",
        f"<worksheet><sheetData>{header}{rows}{far}</sheetData></worksheet>",
        shared=shared,
    )
    report = run(path)
    assert report.readable and report.examples == 13  # the far row is one (empty) example
    assert report.format == "prompt_completion"
    assert {f.line for f in findings(report, "missing_content")} == {1_048_576}


def test_workbook_doctype_is_refused(tmp_path: Path) -> None:
    lol = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
    path = _raw_workbook(tmp_path / "lol.xlsx", lol + "<worksheet><sheetData/></worksheet>")
    report = run(path)
    assert codes(report) == {"invalid_xlsx"} and "DOCTYPE" in report.errors[0].message
