"""The bad-file corpus: each case is a file, and what ``tunebot validate --json`` must say.

Read it as a table: case name, category, the file's bytes (or a builder for the
large ones, generated at test time), the exit code (0 ready or warnings, 1 not
ready, 2 unreadable), error codes that must be reported, warning codes that
must be reported, and, where it matters, the line of the first listed code.

Every file has twelve good chat examples unless the case is about something
else, so a case's verdict is decided by the one thing it is about.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MB = 1 << 20
WORKER_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
"""An open model id: validated as the worker would train it (no download)."""

U = {"role": "user", "content": "Where is my parcel?"}
A = {"role": "assistant", "content": "It arrives on Friday."}
S = {"role": "system", "content": "You are a support agent."}


def good(count: int = 12, *, start: int = 0) -> list[dict[str, object]]:
    return [
        {
            "messages": [
                S,
                {"role": "user", "content": f"Question number {i}?"},
                {"role": "assistant", "content": f"Answer number {i}."},
            ]
        }
        for i in range(start, start + count)
    ]


def lines(*rows: object, before: int = 12, end: bytes = b"\n") -> bytes:
    """``before`` good examples, then ``rows`` (dicts as JSON, str/bytes as written)."""
    out = []
    for row in [*good(before), *rows]:
        if isinstance(row, bytes):
            out.append(row)
        elif isinstance(row, str):
            out.append(row.encode())
        else:
            out.append(json.dumps(row, ensure_ascii=False).encode())
    return end.join(out) + end


def chat(*messages: object, **extra: object) -> dict[str, object]:
    return {"messages": list(messages), **extra}


Build = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One bad (or tricky) file and the verdict it must get."""

    name: str
    category: str
    suffix: str
    content: bytes | Build
    exit: int
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    line: int | None = None
    model: str | None = None
    fix: bool = False
    env: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- builders


def _csv(text: str, *, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


_GOOD_CSV = "".join(f"Question {i}?,Answer {i}.\n" for i in range(12))
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _workbook(
    sheet_rows: str,
    *,
    shared: list[str] | None = None,
    sheets: int = 1,
    raw_sheet: str | None = None,
    extra_entries: int = 0,
) -> bytes:
    buffer = io.BytesIO()
    names = "".join(f'<sheet name="Sheet{n + 1}"/>' for n in range(sheets))
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", f"<workbook {_NS}><sheets>{names}</sheets></workbook>")
        body = raw_sheet or f"<worksheet {_NS}><sheetData>{sheet_rows}</sheetData></worksheet>"
        archive.writestr("xl/worksheets/sheet1.xml", body)
        for n in range(1, sheets):
            archive.writestr(f"xl/worksheets/sheet{n + 1}.xml", f"<worksheet {_NS}/>")
        if shared is not None:
            items = "".join(f"<si><t>{text}</t></si>" for text in shared)
            archive.writestr("xl/sharedStrings.xml", f"<sst {_NS}>{items}</sst>")
        for n in range(extra_entries):
            archive.writestr(f"xl/media/pad{n}.bin", b"")
    return buffer.getvalue()


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def _rows(pairs: list[tuple[str, str]], *, first: int = 1) -> str:
    return "".join(
        f'<row r="{r}">{_cell(f"A{r}", p)}{_cell(f"B{r}", c)}</row>'
        for r, (p, c) in enumerate(pairs, start=first)
    )


_PAIRS = [("prompt", "completion")] + [(f"Question {i}?", f"Answer {i}.") for i in range(12)]


def _zip_bomb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet/>" + " " * 40_000_000)


def _long_line(path: Path) -> None:
    path.write_bytes(lines(b'{"messages": [{"role": "user", "content": "' + b"x" * (9 * MB)))


def _big_json(path: Path) -> None:
    with path.open("wb") as out:
        out.write(b"[" + b" " * (65 * MB) + b"]")


def _csv_big_cell(path: Path) -> None:
    path.write_bytes(
        b"user,assistant\n" + _GOOD_CSV.encode() + b'"' + b"y" * (8 * MB + 10) + b'",x\n'
    )


def _many_braces(path: Path) -> None:
    path.write_bytes(b"{}\n" * 200_000)


def _many_repeats(path: Path) -> None:
    path.write_bytes(lines(*good(1) * 20_000, before=0))


def _blank_flood(path: Path) -> None:
    path.write_bytes(b"\n" * (3 * MB) + lines())


def _xlsx_huge_cell(path: Path) -> None:
    # Random letters: a run of one letter would compress past the zip-bomb ratio.
    text = base64.b64encode(random.Random(0).randbytes(6 * MB + 6)).decode()[: 8 * MB + 1]
    path.write_bytes(_workbook(_rows(_PAIRS) + _rows([("q", text)], first=14)))


def _truncated_xlsx(path: Path) -> None:
    whole = _workbook(_rows(_PAIRS))
    path.write_bytes(whole[: len(whole) // 2])


# ---------------------------------------------------------------- the corpus

_NAN = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]'

CASES: list[Case] = [
    # --- bytes
    Case("empty", "bytes", "jsonl", b"", 1, ("empty_file",)),
    Case("only_newlines", "bytes", "jsonl", b"\n" * 50, 1, ("empty_file",), ("blank_lines",)),
    Case("only_whitespace_lines", "bytes", "jsonl", b" \t\n  \n\t\n", 1, ("empty_file",)),
    Case("nul_in_head", "bytes", "jsonl", lines() + b"\x00\x01\x02", 2, ("binary_file",), line=1),
    Case(
        "nul_inside_a_string_late",
        "bytes",
        "jsonl",
        b" " * 9000 + lines(b'{"messages": [{"role": "user", "content": "a\x00b"}]}'),
        1,
        ("invalid_json",),
        line=13,
    ),
    Case(
        "png_renamed",
        "bytes",
        "jsonl",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
        2,
        ("binary_file",),
    ),
    Case("gzip_renamed", "bytes", "jsonl", gzip.compress(lines(), mtime=0), 2, ("binary_file",)),
    Case(
        "pdf_renamed",
        "bytes",
        "jsonl",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\x00<<>>",
        2,
        ("binary_file",),
    ),
    Case("cr_only_line_ends", "bytes", "jsonl", lines(end=b"\r"), 1, ("invalid_json",), line=1),
    Case("crlf_line_ends", "bytes", "jsonl", lines(end=b"\r\n"), 0),
    Case("no_final_newline", "bytes", "jsonl", lines().rstrip(b"\n"), 0),
    Case(
        "raw_control_char_in_string",
        "bytes",
        "jsonl",
        lines(b'{"messages": [{"role": "user", "content": "a\x01b"}]}'),
        1,
        ("invalid_json",),
        line=13,
    ),
    Case(
        "escaped_nul_is_text",
        "bytes",
        "jsonl",
        lines(chat(S, {"role": "user", "content": "a\u0000b"}, A)),
        0,
    ),
    Case(
        "lone_surrogate_escape",
        "bytes",
        "jsonl",
        lines(
            b'{"messages": [{"role": "user", "content": "hi \\ud83d"}, '
            + json.dumps(A).encode()
            + b"]}"
        ),
        1,
        ("not_utf8",),
        line=13,
    ),
    Case(
        "overlong_utf8",
        "bytes",
        "jsonl",
        lines(b'{"messages": [{"role": "user", "content": "\xc0\xaf"}]}'),
        1,
        ("not_utf8",),
        line=13,
    ),
    Case(
        "utf8_encoded_surrogate",
        "bytes",
        "jsonl",
        lines(b'{"messages": [{"role": "user", "content": "\xed\xa0\x80"}]}'),
        1,
        ("not_utf8",),
        line=13,
    ),
    Case(
        "truncated_multibyte_at_end",
        "bytes",
        "jsonl",
        lines() + b'{"messages": [{"role": "user", "content": "\xe2\x82',
        1,
        ("not_utf8",),
        line=13,
    ),
    Case(
        "unicode_line_separators_raw",
        "bytes",
        "jsonl",
        lines(chat(S, {"role": "user", "content": "one\u2028two\u2029three\x85four"}, A)),
        0,
        fix=True,
    ),
    Case("bom", "bytes", "jsonl", b"\xef\xbb\xbf" + lines(), 0, (), ("utf8_bom",), line=1),
    Case("double_bom", "bytes", "jsonl", b"\xef\xbb\xbf" * 2 + lines(), 1, ("invalid_json",)),
    Case(
        "bom_mid_file",
        "bytes",
        "jsonl",
        lines(b"\xef\xbb\xbf" + json.dumps(chat(U, A)).encode()),
        1,
        ("invalid_json",),
        line=13,
    ),
    # --- encodings
    Case(
        "utf16_le_bom",
        "encoding",
        "jsonl",
        b"\xff\xfe" + lines().decode().encode("utf-16-le"),
        2,
        ("not_utf8",),
    ),
    Case("utf16_be_bom", "encoding", "jsonl", lines().decode().encode("utf-16"), 2, ("not_utf8",)),
    Case(
        "utf16_le_no_bom",
        "encoding",
        "jsonl",
        lines().decode().encode("utf-16-le"),
        2,
        ("not_utf8",),
    ),
    Case("utf32_bom", "encoding", "jsonl", lines().decode().encode("utf-32"), 2, ("not_utf8",)),
    Case(
        "latin1_text",
        "encoding",
        "jsonl",
        lines(chat(U, {"role": "assistant", "content": "Café"})).decode().encode("latin-1"),
        1,
        ("not_utf8",),
        line=13,
    ),
    Case(
        "cp1252_smart_quotes",
        "encoding",
        "jsonl",
        lines(b'{"messages": [{"role": "user", "content": "\x93quoted\x94"}]}'),
        1,
        ("not_utf8",),
        line=13,
    ),
    Case(
        "shift_jis",
        "encoding",
        "jsonl",
        lines(chat(U, {"role": "assistant", "content": "こんにちは"})).decode().encode("shift_jis"),
        1,
        ("not_utf8",),
    ),
    Case(
        "csv_utf16",
        "encoding",
        "csv",
        _csv("user,assistant\n" + _GOOD_CSV, encoding="utf-16"),
        2,
        ("not_utf8",),
    ),
    Case(
        "csv_latin1_row",
        "encoding",
        "csv",
        _csv("user,assistant\n" + _GOOD_CSV + "Café?,Oui.\n", encoding="latin-1"),
        1,
        ("not_utf8",),
    ),
    Case(
        "csv_excel_bom", "encoding", "csv", b"\xef\xbb\xbfuser,assistant\n" + _GOOD_CSV.encode(), 0
    ),
    # --- structure
    Case(
        "truncated_last_line",
        "structure",
        "jsonl",
        lines() + b'{"messages": [{"role": "us',
        1,
        ("invalid_json",),
        line=13,
    ),
    Case("array_on_a_line", "structure", "jsonl", lines("[1, 2, 3]"), 1, ("data_type",), line=13),
    Case(
        "pretty_printed",
        "structure",
        "jsonl",
        json.dumps(good(12)[0], indent=2).encode() + b"\n",
        1,
        ("invalid_json",),
        line=1,
    ),
    Case(
        "nan_value",
        "structure",
        "jsonl",
        lines(_NAN + ', "score": NaN}'),
        1,
        ("invalid_json",),
        line=13,
    ),
    Case(
        "infinity_value",
        "structure",
        "jsonl",
        lines(_NAN + ', "score": Infinity}'),
        1,
        ("invalid_json",),
    ),
    Case(
        "minus_infinity",
        "structure",
        "jsonl",
        lines(_NAN + ', "score": -Infinity}'),
        1,
        ("invalid_json",),
    ),
    Case(
        "overflowing_number",
        "structure",
        "jsonl",
        lines(_NAN + ', "score": 1e400}'),
        1,
        ("invalid_json",),
    ),
    Case(
        "duplicate_top_key",
        "structure",
        "jsonl",
        lines('{"messages": [], ' + _NAN[1:] + "}"),
        1,
        ("duplicate_key",),
        line=13,
    ),
    Case(
        "duplicate_message_key",
        "structure",
        "jsonl",
        lines('{"messages": [{"role": "user", "role": "system", "content": "x"}]}'),
        1,
        ("duplicate_key",),
        line=13,
    ),
    Case("deep_nesting", "structure", "jsonl", lines("[" * 100_000), 1, ("invalid_json",), line=13),
    Case(
        "huge_integer",
        "structure",
        "jsonl",
        lines('{"n": ' + "9" * 5000 + "}"),
        1,
        ("invalid_json",),
    ),
    Case("top_level_string", "structure", "jsonl", lines('"hello"'), 1, ("data_type",), line=13),
    Case("top_level_null", "structure", "jsonl", lines("null"), 1, ("data_type",)),
    Case(
        "messages_is_string",
        "structure",
        "jsonl",
        lines({"messages": "hi"}),
        1,
        ("missing_messages_list",),
    ),
    Case(
        "messages_empty",
        "structure",
        "jsonl",
        lines({"messages": []}),
        1,
        ("missing_messages_list",),
    ),
    Case("message_is_string", "structure", "jsonl", lines(chat("hi", A)), 1, ("data_type",)),
    Case(
        "role_missing",
        "structure",
        "jsonl",
        lines(chat({"content": "x"}, A)),
        1,
        ("message_missing_key",),
    ),
    Case(
        "role_unknown",
        "structure",
        "jsonl",
        lines(chat({"role": "bot", "content": "x"}, A)),
        1,
        ("unrecognized_role",),
    ),
    Case(
        "role_is_a_list",
        "structure",
        "jsonl",
        lines(chat({"role": ["user"], "content": "x"}, A)),
        1,
        ("unrecognized_role",),
    ),
    Case(
        "content_is_number",
        "structure",
        "jsonl",
        lines(chat({"role": "user", "content": 42}, A)),
        1,
        ("data_type",),
    ),
    Case(
        "content_blank",
        "structure",
        "jsonl",
        lines(chat({"role": "user", "content": "  "}, A)),
        1,
        ("missing_content",),
    ),
    Case(
        "no_assistant",
        "structure",
        "jsonl",
        lines(chat(S, U)),
        1,
        ("example_missing_assistant_message",),
    ),
    Case(
        "weight_half",
        "structure",
        "jsonl",
        lines(chat(U, {**A, "weight": 0.5})),
        1,
        ("invalid_weight",),
    ),
    Case(
        "weight_on_user",
        "structure",
        "jsonl",
        lines(chat({**U, "weight": 1}, A)),
        1,
        ("invalid_weight",),
    ),
    Case(
        "orphan_tool_reply",
        "structure",
        "jsonl",
        lines(chat(U, {"role": "tool", "tool_call_id": "nope", "content": "x"}, A)),
        1,
        ("invalid_tool_call",),
    ),
    Case(
        "tool_arguments_not_a_string",
        "structure",
        "jsonl",
        lines(
            chat(
                U,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": {"a": 1}},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
                A,
            )
        ),
        1,
        ("invalid_tool_call",),
    ),
    Case(
        "tool_arguments_bad_json",
        "structure",
        "jsonl",
        lines(
            chat(
                U,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{oops"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
                A,
            )
        ),
        1,
        ("invalid_tool_call",),
    ),
    Case(
        "tools_not_a_list",
        "structure",
        "jsonl",
        lines(chat(U, A, tools={"f": 1})),
        1,
        ("invalid_tools",),
    ),
    Case(
        "image_url_as_string",
        "structure",
        "jsonl",
        lines(
            chat({"role": "user", "content": [{"type": "image_url", "image_url": "cat.png"}]}, A)
        ),
        1,
        ("invalid_image",),
        line=13,
    ),
    Case(
        "image_url_ftp",
        "structure",
        "jsonl",
        lines(
            chat(
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "ftp://x/cat.png"}}],
                },
                A,
            )
        ),
        1,
        ("invalid_image",),
    ),
    Case(
        "image_detail_unknown",
        "structure",
        "jsonl",
        lines(
            chat(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x/c.png", "detail": "ultra"},
                        }
                    ],
                },
                A,
            )
        ),
        1,
        ("invalid_image",),
    ),
    Case(
        "image_url_valid",
        "structure",
        "jsonl",
        lines(
            chat(
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is it?"},
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": "data:image/png;base64,iVBORw0KGgo=",
                                "detail": "low",
                            },
                        },
                    ],
                },
                A,
            )
        ),
        0,
    ),
    Case(
        "special_token",
        "structure",
        "jsonl",
        lines(chat({"role": "user", "content": "a<|endoftext|>b"}, A)),
        1,
        ("special_token_in_content",),
    ),
    Case(
        "ends_with_user_openai",
        "structure",
        "jsonl",
        lines(chat(U, A, U)),
        0,
        (),
        ("trailing_messages",),
        line=13,
    ),
    Case(
        "ends_with_user_worker",
        "structure",
        "jsonl",
        lines(chat(U, A, U)),
        1,
        ("last_message_not_assistant",),
        line=13,
        model=WORKER_MODEL,
    ),
    Case(
        "lone_assistant_worker",
        "structure",
        "jsonl",
        lines(chat(A)),
        1,
        ("no_prompt_before_answer",),
        model=WORKER_MODEL,
    ),
    Case(
        "mixed_formats",
        "structure",
        "jsonl",
        lines({"prompt": "a", "completion": "b"}),
        1,
        ("mixed_formats",),
    ),
    Case(
        "text_for_openai",
        "structure",
        "jsonl",
        lines(*[{"text": f"Page {i} of the manual."} for i in range(12)], before=0),
        1,
        ("text_format_unsupported",),
        line=1,
    ),
    Case(
        "text_for_worker",
        "structure",
        "jsonl",
        lines(*[{"text": f"Page {i} of the manual."} for i in range(12)], before=0),
        0,
        model=WORKER_MODEL,
    ),
    Case(
        "unknown_keys",
        "structure",
        "jsonl",
        lines({"question": "q", "answer": "a"}),
        1,
        ("unknown_format",),
    ),
    Case(
        "preference_old_keys",
        "structure",
        "jsonl",
        lines(
            *[
                {
                    "input": {"messages": [U]},
                    "preferred_completion": "a",
                    "non_preferred_completion": "b",
                }
            ],
            before=0,
        ),
        1,
        ("preference_old_keys",),
    ),
    Case(
        "duplicate_whitespace_only",
        "structure",
        "jsonl",
        lines(json.dumps(good(1)[0], indent=None, separators=(" ,", " :  "))),
        0,
        (),
        ("duplicate_example",),
        line=13,
    ),
    Case(
        "duplicate_key_order",
        "structure",
        "jsonl",
        lines(
            chat(
                S,
                {"content": "Question number 0?", "role": "user"},
                {"content": "Answer number 0.", "role": "assistant"},
            )
        ),
        0,
        (),
        ("duplicate_example",),
        line=13,
    ),
    Case(
        "duplicate_padding",
        "structure",
        "jsonl",
        lines(
            chat(
                S,
                {"role": "user", "content": "Question number 0?  "},
                {"role": "assistant", "content": "\nAnswer number 0."},
            )
        ),
        0,
        (),
        ("duplicate_example", "whitespace_padding"),
        line=13,
    ),
    Case("nine_examples", "structure", "jsonl", lines(before=9), 1, ("too_few_examples",)),
    Case(
        "fixed_below_minimum",
        "structure",
        "jsonl",
        lines(*good(3), before=9),
        1,
        ("too_few_after_fix",),
        (),
        fix=True,
    ),
    Case(
        "fix_drops_errors",
        "structure",
        "jsonl",
        lines(_NAN + ', "score": NaN}', chat(U, A, U), "not json"),
        1,
        ("invalid_json",),
        ("trailing_messages",),
        fix=True,
    ),
    # --- sizes
    Case("line_over_8mb", "size", "jsonl", _long_line, 1, ("line_too_long",), line=13),
    Case(
        "over_max_file_bytes",
        "size",
        "jsonl",
        lines(),
        2,
        ("file_too_large",),
        env={"TUNEBOT_MAX_FILE_BYTES": "1000"},
    ),
    Case("json_over_64mb", "size", "json", _big_json, 2, ("file_too_large",)),
    Case("three_mb_of_blank_lines", "size", "jsonl", _blank_flood, 0, (), ("blank_lines",)),
    Case(
        "two_hundred_thousand_braces", "size", "jsonl", _many_braces, 1, ("unknown_format",), line=1
    ),
    Case(
        "twenty_thousand_repeats",
        "size",
        "jsonl",
        _many_repeats,
        0,
        (),
        ("duplicate_example",),
        line=2,
    ),
    Case("csv_cell_over_8mb", "size", "csv", _csv_big_cell, 1, ("field_too_large",), line=14),
    # --- formats
    Case(
        "json_truncated",
        "format",
        "json",
        b"[" + b",\n".join(json.dumps(r).encode() for r in good()) + b",\n{",
        1,
        ("invalid_json",),
        line=13,
    ),
    Case(
        "json_single_example",
        "format",
        "json",
        json.dumps(good(1)[0]).encode(),
        2,
        ("invalid_json",),
    ),
    Case(
        "json_two_lists",
        "format",
        "json",
        json.dumps({"a": good(), "b": good()}).encode(),
        2,
        ("invalid_json",),
    ),
    Case(
        "json_wrapped_list",
        "format",
        "json",
        json.dumps({"meta": {"v": [1]}, "data": good()}).encode(),
        0,
    ),
    Case(
        "json_nan_element",
        "format",
        "json",
        ("[" + ",\n".join([*map(json.dumps, good()), _NAN + ', "s": NaN}']) + "]").encode(),
        1,
        ("invalid_json",),
        line=13,
    ),
    Case(
        "json_duplicate_key_element",
        "format",
        "json",
        (
            "[" + ",\n".join([*map(json.dumps, good()), '{"messages": [], "messages": []}']) + "]"
        ).encode(),
        1,
        ("duplicate_key",),
        line=13,
    ),
    Case("json_not_an_array", "format", "json", b"42", 2, ("invalid_json",)),
    Case("txt_extension", "format", "txt", b"hello world\n", 2, ("unsupported_file_type",)),
    Case("no_extension_jsonl", "format", "", lines(), 0),
    Case("ndjson_extension", "format", "ndjson", lines(), 0),
    Case(
        "tsv_good",
        "format",
        "tsv",
        ("user\tassistant\n" + _GOOD_CSV.replace(",", "\t")).encode(),
        0,
    ),
    Case(
        "csv_unknown_columns",
        "format",
        "csv",
        b"question,answer\n" + _GOOD_CSV.encode(),
        2,
        ("unknown_columns",),
    ),
    Case(
        "csv_stray_quote",
        "format",
        "csv",
        b"user,assistant\n" + _GOOD_CSV.encode() + b'"bad"quote,row\n',
        1,
        ("invalid_csv",),
        line=14,
    ),
    Case(
        "csv_messages_column",
        "format",
        "csv",
        b"messages\n"
        + b"".join(
            b'"' + json.dumps(r["messages"]).replace('"', '""').encode() + b'"\n' for r in good()
        ),
        0,
    ),
    Case(
        "csv_messages_cell_nan",
        "format",
        "csv",
        b"messages\n" + b'"[{""role"": ""user"", ""content"": NaN}]"\n' * 12,
        1,
        ("invalid_json",),
    ),
    Case("csv_header_only", "format", "csv", b"user,assistant\n", 1, ("empty_file",)),
    Case(
        "csv_formula_cell",
        "format",
        "csv",
        b"user,assistant\n"
        + _GOOD_CSV.encode()
        + b'"=HYPERLINK(""http://evil.example"",""x"")",ok\n',
        0,
        (),
        ("formula_cell",),
        line=14,
    ),
    Case(
        "xls_ole",
        "format",
        "xls",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512),
        2,
        ("unsupported_file_type",),
    ),
    Case(
        "zip_named_jsonl",
        "format",
        "jsonl",
        _workbook(_rows(_PAIRS)),
        2,
        ("unsupported_file_type",),
    ),
    # --- spreadsheet tricks
    Case("xlsx_zip_bomb", "spreadsheet", "xlsx", _zip_bomb, 2, ("zip_bomb",)),
    Case(
        "xlsx_not_a_zip",
        "spreadsheet",
        "xlsx",
        b"prompt,completion\n",
        2,
        ("unsupported_file_type",),
    ),
    Case(
        "xlsx_no_workbook_part",
        "spreadsheet",
        "xlsx",
        _workbook(_rows(_PAIRS)).replace(b"xl/workbook.xml", b"xl/notebook.xml"),
        2,
        ("invalid_xlsx",),
    ),
    Case(
        "xlsx_far_cell",
        "spreadsheet",
        "xlsx",
        _workbook(_rows(_PAIRS) + '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'),
        1,
        ("missing_content",),
        line=1_048_576,
    ),
    Case(
        "xlsx_doctype_entities",
        "spreadsheet",
        "xlsx",
        _workbook(
            "", raw_sheet='<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><worksheet/>'
        ),
        2,
        ("invalid_xlsx",),
    ),
    Case(
        "xlsx_shared_string_out_of_range",
        "spreadsheet",
        "xlsx",
        _workbook(
            _rows(_PAIRS) + '<row r="20"><c r="A20" t="s"><v>999</v></c></row>', shared=["x"]
        ),
        2,  # met in the same 1 MB block as the header, so the workbook is unreadable
        ("invalid_xlsx",),
    ),
    Case("xlsx_truncated", "spreadsheet", "xlsx", _truncated_xlsx, 2, ("invalid_xlsx",)),
    Case(
        "xlsx_extra_sheets",
        "spreadsheet",
        "xlsx",
        _workbook(_rows(_PAIRS), sheets=3),
        0,
        (),
        ("extra_sheets",),
    ),
    Case(
        "xlsx_formula",
        "spreadsheet",
        "xlsx",
        _workbook(
            _rows(_PAIRS)
            + '<row r="14"><c r="A14"><f>1+1</f><v>2</v></c>'
            + '<c r="B14" t="inlineStr"><is><t>two</t></is></c></row>'
        ),
        0,
        (),
        ("formula_cell",),
    ),
    Case("xlsx_empty_sheet", "spreadsheet", "xlsx", _workbook(""), 1, ("empty_file",)),
    Case(
        "xlsx_too_many_parts",
        "spreadsheet",
        "xlsx",
        _workbook(_rows(_PAIRS), extra_entries=10_001),
        2,
        ("zip_bomb",),
    ),
    Case(
        "xlsx_broken_xml",
        "spreadsheet",
        "xlsx",
        _workbook("", raw_sheet=f'<worksheet {_NS}><sheetData><row r="1"><c'),
        2,
        ("invalid_xlsx",),
    ),
    Case(
        "xlsx_header_below_blank_rows", "spreadsheet", "xlsx", _workbook(_rows(_PAIRS, first=5)), 0
    ),
    Case("xlsx_cell_over_8mb", "spreadsheet", "xlsx", _xlsx_huge_cell, 1, ("invalid_xlsx",)),
    Case(
        "xlsx_shared_strings",
        "spreadsheet",
        "xlsx",
        _workbook(
            "".join(
                f'<row r="{r + 1}"><c r="A{r + 1}" t="s"><v>{2 * r}</v></c>'
                f'<c r="B{r + 1}" t="s"><v>{2 * r + 1}</v></c></row>'
                for r in range(13)
            ),
            shared=[t for pair in _PAIRS for t in pair],
        ),
        0,
    ),
]
