"""Every finding code has a fixture that triggers it, at the right line.

Per-example codes: eleven good examples, then the bad one on line 12 (so it is
example 11). File-level codes get their own small files.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from core.config import Settings
from core.tokens import resolve_model
from core.validation.codes import CODES
from core.validation.file_checks import check_file
from core.validation.findings import FindingLog
from core.validation.outcome import Outcome
from core.validation.tally import Tally
from tests.core.validation.helpers import (
    FIXTURES,
    chat,
    codes,
    findings,
    good_rows,
    run,
    write_jsonl,
)

U = {"role": "user", "content": "Track my parcel?"}
A = {"role": "assistant", "content": "It is on its way."}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "lookup_order", "arguments": '{"order_id": "PP-1"}'},
}
TOOLS = [{"type": "function", "function": {"name": "lookup_order", "parameters": {}}}]

EXAMPLE_CASES: dict[str, object] = {
    "invalid_json": '{"messages": [{"role": "user", "content": "hi", "score": NaN}]}',
    "duplicate_key": '{"messages": [{"role": "user", "content": "a", "content": "b"}]}',
    "invalid_image": {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": "cat.png"}]},
            A,
        ]
    },
    "trailing_messages": {"messages": [U, A, U]},
    "not_utf8": b'{"messages": [{"role": "user", "content": "caf\xe9"}]}',
    "data_type": [U, A],
    "missing_messages_list": {"messages": []},
    "message_missing_key": {"messages": [{"role": "user"}, A]},
    "message_unrecognized_key": {"messages": [{**U, "mood": "cross"}, A]},
    "unrecognized_role": {"messages": [{"role": "bot", "content": "hi"}, A]},
    "missing_content": {"messages": [{"role": "user", "content": "   "}, A]},
    "example_missing_assistant_message": {"messages": [U]},
    "no_trained_messages": {"messages": [U, {**A, "weight": 0}]},
    "invalid_weight": {"messages": [U, {**A, "weight": 2}]},
    "invalid_tool_call": {
        "messages": [U, {"role": "tool", "tool_call_id": "nope", "content": "x"}, A]
    },
    "invalid_tools": {"messages": [U, A], "tools": [{"type": "function", "function": {}}]},
    "example_unrecognized_key": {"messages": [U, A], "meta": {"source": "crm"}},
    "deprecated_functions": {
        "messages": [
            U,
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "f", "arguments": "{}"},
            },
            {"role": "function", "name": "f", "content": "ok"},
            A,
        ],
        "functions": [{"name": "f", "parameters": {}}],
    },
    "unknown_format": {"question": "hi", "answer": "hello"},
    "missing_field": {"prompt": "Track my parcel ->"},
    "preference_old_keys": {
        "input": {"messages": [U]},
        "preferred_completion": "a",
        "non_preferred_completion": "b",
    },
    "invalid_preference": {
        "input": {"messages": [U]},
        "preferred_output": "yes",
        "non_preferred_output": [A],
    },
    "special_token_in_content": {"messages": [{"role": "user", "content": "a<|endoftext|>b"}, A]},
    "whitespace_padding": {"messages": [U, {"role": "assistant", "content": "Sure. \n"}]},
    "missing_user_message": {"messages": [{"role": "system", "content": "x"}, A]},
    "duplicate_example": chat("Question number 0?", "Answer number 0."),
}


@pytest.mark.parametrize("code", sorted(EXAMPLE_CASES))
def test_example_code_is_reported_on_its_line(tmp_path: Path, code: str) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [*good_rows(11), EXAMPLE_CASES[code]])
    report = run(path)
    hits = findings(report, code)
    assert hits, f"{code} not reported; got {codes(report)}"
    assert (hits[0].line, hits[0].example) == (12, 11)
    assert hits[0].severity == CODES[code][0]
    assert hits[0].message
    assert report.verdict == ("not_ready" if CODES[code][0] == "error" else "warnings")


def test_valid_tool_calls_weight_and_null_content_are_not_errors(tmp_path: Path) -> None:
    """The cookbook checker crashes on weight and flags these; they are valid."""
    rows = [
        {
            "messages": [
                U,
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_1", "content": '{"ok": 1}'},
                {**A, "weight": 1},
                U,
                {**A, "content": "Anything else?", "weight": 0},
                U,
                {**A, "content": f"Bye {i}."},
            ],
            "tools": TOOLS,
            "parallel_tool_calls": False,
        }
        for i in range(60)
    ]
    report = run(write_jsonl(tmp_path / "tools.jsonl", rows))
    assert report.errors == []
    assert codes(report) == {"missing_system_message"}
    assert report.tokens.estimated and report.notes


def test_unhashable_values_where_strings_belong(tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": ["user"], "content": "hi"}, A]},
        {"messages": [{"role": {"r": 1}, "content": "hi", "name": ["x"]}, A]},
        {"messages": [U, {"role": "assistant", "content": None, "tool_calls": [{"id": ["c"]}]}]},
        {"messages": [U, {"role": "tool", "tool_call_id": {"id": 1}, "content": "r"}, A]},
    ]
    report = run(write_jsonl(tmp_path / "odd.jsonl", [*good_rows(11), *rows]))
    assert {(f.code, f.line) for f in report.errors} >= {
        ("unrecognized_role", 12),
        ("unrecognized_role", 13),
        ("invalid_tool_call", 14),
        ("invalid_tool_call", 15),
    }


def test_one_line_jsonl_is_read(tmp_path: Path) -> None:
    """The legacy CLI rejected a JSONL file of one line; it is one example."""
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(chat()))  # no trailing newline either
    report = run(path)
    assert report.examples == 1
    assert codes(report) == {"too_few_examples"}


def test_file_level_counts(tmp_path: Path) -> None:
    few = run(write_jsonl(tmp_path / "few.jsonl", good_rows(12)))
    assert codes(few) == {"few_examples"} and few.verdict == "warnings"
    too_few = run(write_jsonl(tmp_path / "too_few.jsonl", good_rows(9)))
    assert codes(too_few) == {"too_few_examples"} and too_few.verdict == "not_ready"
    ready = run(write_jsonl(tmp_path / "ready.jsonl", good_rows(50)))
    assert ready.verdict == "ready" and ready.errors == ready.warnings == []


def test_missing_system_message_counts_and_points_at_first(tmp_path: Path) -> None:
    rows = [*good_rows(50), chat(system=None), chat("Other?", system=None)]
    [hit] = findings(run(write_jsonl(tmp_path / "d.jsonl", rows)), "missing_system_message")
    assert hit.line == 51 and "2 of 52" in hit.message


def test_mixed_formats_and_legacy_advice(tmp_path: Path) -> None:
    pairs = [{"prompt": f"Question {i}", "completion": f"Answer {i}"} for i in range(60)]
    report = run(write_jsonl(tmp_path / "pc.jsonl", pairs))
    assert report.format == "prompt_completion"
    assert {
        "legacy_format",
        "prompt_separator_missing",
        "completion_ending_missing",
        "completion_leading_space",
    } <= codes(report)
    assert report.errors == []
    good = [{"prompt": f"Q {i}\n\n###\n\n", "completion": f" A {i} END"} for i in range(60)]
    assert codes(run(write_jsonl(tmp_path / "good_pc.jsonl", good))) == {"legacy_format"}
    mixed = run(write_jsonl(tmp_path / "mixed.jsonl", [*good_rows(20), *pairs[:3]]))
    [hit] = findings(mixed, "mixed_formats")
    assert mixed.format == "mixed" and hit.line == 21


WORKER_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.mark.parametrize(
    ("code", "messages"),
    [("last_message_not_assistant", [U, A, U]), ("no_prompt_before_answer", [A])],
)
def test_worker_models_need_a_final_reply_to_a_prompt(
    tmp_path: Path, code: str, messages: list[object]
) -> None:
    """The worker trains the last assistant reply on the turns before it; OpenAI does not."""
    path = write_jsonl(tmp_path / "w.jsonl", [*good_rows(11), {"messages": messages}])
    [hit] = findings(run(path, model=WORKER_MODEL), code)
    assert (hit.line, hit.severity) == (12, "error")
    assert not findings(run(path, model="gpt-4o-mini"), code)


def test_text_examples_are_not_ready_for_openai(tmp_path: Path) -> None:
    rows = [{"text": f"Paragraph number {i} of the manual."} for i in range(12)]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    report = run(path, model="gpt-4o-mini")
    [hit] = findings(report, "text_format_unsupported")
    assert hit.line == 1 and report.verdict == "not_ready"
    assert run(path, model=WORKER_MODEL).verdict != "not_ready"  # few_examples warns


def test_fixed_file_below_the_minimum_says_so(tmp_path: Path) -> None:
    rows = [*good_rows(9), *good_rows(3)]  # 12 examples, 3 repeats: only warnings
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    report = run(path, fix_path=tmp_path / "fixed.jsonl")
    assert report.fixed_examples == 9
    [hit] = findings(report, "too_few_after_fix")
    assert "9 training example(s)" in hit.message and report.verdict == "not_ready"
    enough = run(write_jsonl(tmp_path / "e.jsonl", good_rows(12)), fix_path=tmp_path / "f.jsonl")
    assert not findings(enough, "too_few_after_fix")


def test_examples_past_the_cap_are_counted_not_kept() -> None:
    tally = Tally(FindingLog(), max_examples=3)
    for line in range(1, 6):
        tally.add(Outcome(line, "chat", 5, 2, False, b"\x01" * 8, ()), error_codes=frozenset())
    assert (tally.examples, tally.kept, tally.first_unkept_line) == (5, 3, 4)
    first_of = check_file(tally, tally.log, spec=resolve_model("gpt-4o-mini"))
    assert first_of.tolist() == [-1, 0, 0]
    assert tally.log.counts["too_many_examples"] == 1


def test_too_many_tokens_against_the_models_limit(tmp_path: Path) -> None:
    long = chat("Summarise this: " + "parcel " * 17_000)
    path = write_jsonl(tmp_path / "long.jsonl", [*good_rows(11), long])
    [hit] = findings(run(path, model="gpt-3.5-turbo-0125"), "too_many_tokens")
    assert hit.line == 12 and "16,385" in hit.message
    assert not findings(run(path, model="gpt-4o-mini-2024-07-18"), "too_many_tokens")


def test_reader_notes(tmp_path: Path) -> None:
    blank = tmp_path / "blank.jsonl"
    blank.write_bytes(b"\xef\xbb\xbf" + b"\n\n".join(json.dumps(r).encode() for r in good_rows(12)))
    report = run(blank)
    assert report.examples == 12
    assert {"utf8_bom", "blank_lines"} <= codes(report)
    too_big = run(blank, settings=Settings(TUNEBOT_MAX_FILE_BYTES=100))
    assert codes(too_big) == {"file_too_large"} and not too_big.readable


def test_spreadsheet_codes(tmp_path: Path) -> None:
    csv_path = tmp_path / "cols.csv"
    rows = "".join(f"q{i},a{i},note\n" for i in range(12))
    csv_path.write_text("User,ASSISTANT,comment\n" + rows)
    report = run(csv_path)
    assert {"column_name_case", "unused_column"} <= codes(report)
    quote = tmp_path / "quote.csv"
    quote.write_bytes(b"user,assistant\n" + b"hi,there\n" * 1200 + b'"bad"quote,row\n')
    [hit] = findings(run(quote), "invalid_csv")
    assert hit.line == 1202
    no_cols = run(FIXTURES / "bad" / "no_known_columns.csv")
    assert codes(no_cols) == {"unknown_columns"} and not no_cols.readable


def test_workbook_codes(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(damaged, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    assert codes(run(damaged)) == {"invalid_xlsx"}
    assert codes(run(FIXTURES / "bad" / "old_excel.xls")) == {"unsupported_file_type"}


def test_missing_file() -> None:
    report = run(Path("/nonexistent/data.jsonl"))
    assert codes(report) == {"file_not_found"} and not report.readable


# Codes whose cases live elsewhere: the bad-input corpus and the reader tests.
COVERED_ELSEWHERE = {
    "empty_file": "test_bad_inputs",
    "binary_file": "test_bad_inputs",
    "unsupported_file_type": "test_bad_inputs",
    "line_too_long": "test_bad_inputs",
    "zip_bomb": "test_bad_inputs",
    "extra_sheets": "test_bad_inputs",
    "formula_cell": "test_bad_inputs",
    "field_too_large": "test_bad_inputs",
    "chat_template_error": "test_open_models",
    "template_cannot_render_tools": "test_open_models",
}
COVERED_HERE = {
    "last_message_not_assistant",
    "no_prompt_before_answer",
    "text_format_unsupported",
    "too_few_after_fix",
    "too_many_examples",
    "too_few_examples",
    "few_examples",
    "missing_system_message",
    "mixed_formats",
    "legacy_format",
    "prompt_separator_missing",
    "completion_ending_missing",
    "completion_leading_space",
    "too_many_tokens",
    "utf8_bom",
    "blank_lines",
    "file_too_large",
    "column_name_case",
    "unused_column",
    "invalid_csv",
    "unknown_columns",
    "invalid_xlsx",
    "file_not_found",
}


def test_every_code_has_a_case() -> None:
    covered = set(EXAMPLE_CASES) | COVERED_HERE | set(COVERED_ELSEWHERE)
    assert covered == set(CODES)
