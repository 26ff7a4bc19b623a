"""Peak memory of ``tunebot validate`` on degenerate files, one fresh process per case.

Each case is generated into a temporary folder, then validated by the real
command (``python -m cli.main validate FILE --json``) in a child process. For
each case the table shows:

* ``peak RSS MB``: the largest resident set of any one process of the run
  (the CLI or one of its worker processes), from the kernel's own high-water
  mark (``wait4``), so no peak is missed between samples;
* ``tree PSS MB``: the largest sum of proportional set sizes over the whole
  process tree, sampled every 100 ms (shared pages, such as the token vocabulary
  forked workers share, are divided between the processes instead of counted
  once per process);
* seconds, and the exit code (0 ready, 1 not ready, 2 unreadable).

The goal (issue #10) is a peak RSS under 300 MB for every case.

Usage::

    .venv/bin/python benchmarks/adversarial_memory.py [--only NAME ...] [--code CHECKOUT]

``--code`` runs another checkout's code (for a before/after comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
MB = 1 << 20
LINES_5M = 5_000_000


def _write_lines(path: Path, line: bytes, count: int) -> None:
    block = line * 100_000
    with path.open("wb") as out:
        for _ in range(count // 100_000):
            out.write(block)
        out.write(line * (count % 100_000))


def braces_15mb(path: Path) -> None:
    """The issue's case: 15 MB of ``{}`` lines (5 million tiny lines, each an error)."""
    _write_lines(path, b"{}\n", LINES_5M)


def same_text_5m(path: Path) -> None:
    """5 million identical valid text examples: every one but the first a duplicate."""
    _write_lines(path, b'{"text":"a"}\n', LINES_5M)


def distinct_text_5m(path: Path) -> None:
    """5 million distinct valid text examples."""
    with path.open("wb") as out:
        for start in range(0, LINES_5M, 100_000):
            out.write(b"".join(b'{"text":"%d"}\n' % n for n in range(start, start + 100_000)))


def over_cap_6m(path: Path) -> None:
    """6 million tiny examples: past the 5-million cap, counted but not kept."""
    _write_lines(path, b'{"text":"b"}\n', 6_000_000)


def newlines_500mb(path: Path) -> None:
    """500 MB of blank lines (under the 512 MB input limit)."""
    _write_lines(path, b"\n" * 1000, 500 * MB // 1000)


def one_line_500mb(path: Path) -> None:
    """One 500 MB line (the reader skips it in bounded steps)."""
    with path.open("wb") as out:
        out.write(b'{"text":"')
        for _ in range(500):
            out.write(b"x" * MB)
        out.write(b'"}\n')


def json_array_64mb(path: Path) -> None:
    """A .json array at the format's 64 MB cap (it is parsed whole)."""
    element = b'{"text":"' + b"z" * 1000 + b'"},\n'
    count = (64 * MB - 100) // len(element)
    with path.open("wb") as out:
        out.write(b"[")
        out.write(element * (count - 1))
        out.write(element.rstrip(b",\n") + b"]")


def json_wrapped_60mb(path: Path) -> None:
    """``{"data": [...]}`` of 60 MB: the wrapper used to be decoded whole."""
    row = b'{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]},\n'
    count = 60 * MB // len(row)
    with path.open("wb") as out:
        out.write(b'{"meta": {"source": "export"}, "data": [')
        out.write(row * (count - 1))
        out.write(row.rstrip(b",\n") + b"]}")


_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _workbook(path: Path, rows: Callable[[], object]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(
            "xl/workbook.xml", f'<workbook {_NS}><sheets><sheet name="S"/></sheets></workbook>'
        )
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(f"<worksheet {_NS}><sheetData>".encode())
            for chunk in rows():  # type: ignore[attr-defined]  # a generator of str
                sheet.write(chunk.encode())
            sheet.write(b"</sheetData></worksheet>")


def xlsx_20mb(path: Path) -> None:
    """A 20 MB workbook of a million rows, 197 MB of XML: under both zip-bomb caps."""

    def rows() -> object:
        yield (
            '<row r="1"><c r="A1" t="inlineStr"><is><t>prompt</t></is></c>'
            '<c r="B1" t="inlineStr"><is><t>completion</t></is></c></row>'
        )
        for r in range(2, 1_000_000):
            yield (
                f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>q{r}</t></is></c>'
                f'<c r="B{r}" t="inlineStr"><is><t>a{r}</t></is></c>'
                f'<c r="C{r}"><v>{r}</v></c><c r="D{r}"><v>{r}</v></c></row>'
            )

    _workbook(path, rows)


def xlsx_far_cell(path: Path) -> None:
    """1.4 KB: a header and one cell at XFD1048576 (calamine asked for 512 GB)."""

    def rows() -> object:
        yield (
            '<row r="1"><c r="A1" t="inlineStr"><is><t>prompt</t></is></c>'
            '<c r="B1" t="inlineStr"><is><t>completion</t></is></c></row>'
            '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
        )

    _workbook(path, rows)


def csv_huge_cells(path: Path) -> None:
    """A 400 MB CSV: 50 cells of 8 MB (just under the field cap), one per row."""
    with path.open("wb") as out:
        out.write(b"prompt,completion\n")
        cell = b"y" * (8 * MB - 16)
        for _ in range(50):
            out.write(b"q," + cell + b"\n")


CASES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "braces_15mb": ("jsonl", braces_15mb),
    "xlsx_20mb": ("xlsx", xlsx_20mb),
    "xlsx_far_cell": ("xlsx", xlsx_far_cell),
    "json_array_64mb": ("json", json_array_64mb),
    "json_wrapped_60mb": ("json", json_wrapped_60mb),
    "one_line_500mb": ("jsonl", one_line_500mb),
    "newlines_500mb": ("jsonl", newlines_500mb),
    "csv_huge_cells": ("csv", csv_huge_cells),
    "same_text_5m": ("jsonl", same_text_5m),
    "distinct_text_5m": ("jsonl", distinct_text_5m),
    "over_cap_6m": ("jsonl", over_cap_6m),
}


class _PssSampler(threading.Thread):
    """Largest summed PSS of a process and its descendants, sampled every 100 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.stop.wait(0.1):
            total = 0
            try:
                for process in [root, *root.children(recursive=True)]:
                    total += process.memory_full_info().pss
            except psutil.Error:
                continue
            self.peak = max(self.peak, total)


def measure(path: Path, code: Path) -> tuple[float, float, float, int]:
    """(peak RSS MB, tree PSS MB, seconds, exit code) of one validation."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    env.pop("TUNEBOT_DEFAULT_MODEL", None)
    command = [sys.executable, "-m", "cli.main", "validate", str(path), "--json"]
    start = time.perf_counter()
    pid = os.posix_spawn(
        sys.executable,
        command,
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
        ],
    )
    sampler = _PssSampler(pid)
    sampler.start()
    _pid, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    return usage.ru_maxrss / 1024, sampler.peak / MB, seconds, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="Cases to run.")
    parser.add_argument("--code", type=Path, default=ROOT, help="Checkout whose code runs.")
    args = parser.parse_args()
    names = args.only or list(CASES)
    header = f"{'case':<20} {'input MB':>9} {'peak RSS MB':>12} {'tree PSS MB':>12} "
    print(header + f"{'seconds':>8} {'exit':>5}", flush=True)
    with tempfile.TemporaryDirectory(prefix="adversarial-") as folder:
        for name in names:
            suffix, build = CASES[name]
            path = Path(folder) / f"{name}.{suffix}"
            build(path)
            size = path.stat().st_size / MB
            rss, pss, seconds, code = measure(path, args.code.resolve())
            print(
                f"{name:<20} {size:>9.1f} {rss:>12.0f} {pss:>12.0f} {seconds:>8.1f} {code:>5}",
                flush=True,
            )
            path.unlink()
    print(json.dumps({"code": str(args.code.resolve()), "goal_peak_rss_mb": 300}))


if __name__ == "__main__":
    main()
