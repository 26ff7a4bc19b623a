"""Streaming JSONL: whole lines, right numbers, bounded overlong lines, decoding problems."""

from __future__ import annotations

import io

from core.datasets.jsonl import LineChunk, OverlongLine, decode_line, iter_line_chunks


def chunks(data: bytes, **options: int) -> list[LineChunk | OverlongLine]:
    return list(iter_line_chunks(io.BytesIO(data), **options))


def test_lines_keep_their_numbers_across_small_blocks() -> None:
    data = b"".join(b'{"n": %d}\n' % i for i in range(1, 101))
    seen = []
    for item in chunks(data, chunk_bytes=7):
        assert isinstance(item, LineChunk)
        for offset, raw in enumerate(item.data.split(b"\n")[:-1]):
            seen.append((item.first_line + offset, raw))
    assert seen == [(i, b'{"n": %d}' % i) for i in range(1, 101)]


def test_last_line_without_newline_and_offsets() -> None:
    items = chunks(b'{"a": 1}\n{"b": 2}', chunk_bytes=4)
    assert [(i.first_line, i.data) for i in items if isinstance(i, LineChunk)][-1] == (
        2,
        b'{"b": 2}',
    )
    assert items[-1].end_offset == 17


def test_overlong_line_is_skipped_and_counted() -> None:
    data = b"short\n" + b"x" * 1000 + b"\nafter\n" + b"y" * 50
    items = chunks(data, chunk_bytes=64, max_line_bytes=100)
    overlong = [i for i in items if isinstance(i, OverlongLine)]
    assert [(o.line, o.size) for o in overlong] == [(2, 1000)]
    lines = [(i.first_line, i.data) for i in items if isinstance(i, LineChunk)]
    assert lines[0] == (1, b"short\n") and (3, b"after\n") in lines and (4, b"y" * 50) in lines


def test_overlong_last_line() -> None:
    items = chunks(b"ok\n" + b"z" * 500, chunk_bytes=64, max_line_bytes=100)
    assert isinstance(items[-1], OverlongLine) and items[-1].line == 2


def test_decode_line_problems() -> None:
    assert decode_line(b'{"a": [1, 2]}') == ({"a": [1, 2]}, None)
    _, problem = decode_line(b'{"a": "caf\xe9"}')
    assert problem is not None and problem.code == "not_utf8" and "column 11" in problem.message
    _, problem = decode_line(b'{"a": ')
    assert problem is not None and problem.code == "invalid_json"
    _, problem = decode_line(b"[" * 50_000 + b"]" * 50_000)
    assert problem is not None and "nested too deeply" in problem.message
    _, problem = decode_line(b'{"n": ' + b"9" * 5000 + b"}")
    assert problem is not None and problem.code == "invalid_json"
    _, problem = decode_line(b"[1, 2]")
    assert problem is None  # valid JSON; the checks report that it is not an object


def test_an_unterminated_string_says_at_column_once() -> None:
    _, problem = decode_line(b'{"messages": "unfinished')
    assert problem is not None
    assert "Unterminated string starting at column 14" in problem.message
    assert "at at" not in problem.message
