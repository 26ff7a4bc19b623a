"""Worker processes give exactly the report one process gives, in file order."""

from __future__ import annotations

import json
from pathlib import Path

from core.validation.runner import POOL_MIN_BYTES, pool_size
from tests.core.validation.helpers import chat, good_rows, run, write_jsonl


def test_pool_report_equals_serial_report(tmp_path: Path) -> None:
    rows: list[object] = []
    for i in range(3000):
        if i % 397 == 5:
            rows.append("{not json")
        elif i % 501 == 7:
            rows.append(chat(f"dup {i % 2}", "same"))
        elif i % 613 == 11:
            rows.append({"messages": [{"role": "user", "content": f"alone {i}"}]})
        else:
            rows.append(good_rows(1, start=i)[0])
        if i % 250 == 0:
            rows.append("")  # blank lines must not shift example numbers
    path = write_jsonl(tmp_path / "data.jsonl", rows)
    serial = run(path, workers=1, fix_path=tmp_path / "serial.jsonl")
    pooled = run(path, workers=2, fix_path=tmp_path / "pooled.jsonl")
    strip = {"fixed_path"}
    assert pooled.model_dump(exclude=strip) == serial.model_dump(exclude=strip)
    assert serial.finding_counts["invalid_json"] == 8
    assert serial.finding_counts["duplicate_example"] >= 3
    assert (tmp_path / "serial.jsonl").read_bytes() == (tmp_path / "pooled.jsonl").read_bytes()
    lines = [json.loads(x) for x in (tmp_path / "serial.jsonl").read_text().splitlines()]
    assert len(lines) == serial.fixed_examples


def test_pool_only_for_large_files() -> None:
    assert pool_size(POOL_MIN_BYTES - 1, workers=None) == 1
    assert pool_size(POOL_MIN_BYTES, workers=None) >= 1
    assert pool_size(10, workers=3) == 3


def test_progress_reaches_the_file_size(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", good_rows(3000))
    seen: list[tuple[int, int]] = []
    run(path, progress=lambda done, total: seen.append((done, total)))
    size = path.stat().st_size
    assert seen[-1] == (size, size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_pool_from_a_thread_uses_forkserver(tmp_path: Path) -> None:
    """The bot validates in worker threads: no fork of a threaded process, same report."""
    from concurrent.futures import ThreadPoolExecutor

    from core.validation import runner

    path = write_jsonl(tmp_path / "data.jsonl", [*good_rows(400), "{bad"])
    with ThreadPoolExecutor(2) as threads:
        method = threads.submit(runner._start_method).result()
        pooled = threads.submit(run, path, workers=2).result()
    assert method == "forkserver"
    serial = run(path, workers=1)
    assert pooled.model_dump() == serial.model_dump()
