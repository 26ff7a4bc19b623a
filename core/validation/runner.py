"""Run the per-example checks over a file: in this process, or on every core.

Tokenising dominates validation, and tiktoken's batch API is slower than a
serial loop on short chat strings (DESIGN.md, measured), so large JSONL files
are spread over worker processes in chunks of whole lines. The parent only
reads and folds results; at most :data:`IN_FLIGHT_PER_WORKER` chunks per worker
are outstanding, so memory stays bounded whatever the file size.

Workers are forked from this process after it has loaded the encoding, so
they share its ~75 MB of vocabulary instead of each building a copy, and start
at once. A process running other threads (the Slack bot) uses ``forkserver``
instead: forking a threaded process can hand the child a lock held forever.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from core.datasets.jsonl import LineChunk, OverlongLine, iter_line_chunks, overlong_problem
from core.datasets.records import Record
from core.datasets.sniff import UTF8_BOM
from core.validation.context import CheckContext, Target
from core.validation.example import (
    check_chunk,
    check_value,
    problem_outcome,
)
from core.validation.outcome import Outcome

POOL_MIN_BYTES = 16 * 1024 * 1024
"""Below this, starting workers (each loads its encoding) costs more than it saves."""
IN_FLIGHT_PER_WORKER = 3

_worker_context: CheckContext | None = None
_worker_target: Target | None = None


@dataclass(slots=True)
class JsonlStats:
    """File-level facts only the reader sees."""

    bom: bool = False
    blank_lines: int = 0
    workers: int = 1


def pool_size(size: int, *, workers: int | None) -> int:
    """Worker processes to use for a file of ``size`` bytes (1 means in-process)."""
    if workers is not None:
        return max(1, workers)
    if size < POOL_MIN_BYTES:
        return 1
    return max(
        1,
        min(
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1),
            4,
        ),
    )


def run_jsonl(
    path: Path, target: Target, *, workers: int, progress: Callable[[int, int], None] | None = None
) -> tuple[Iterator[Outcome], JsonlStats]:
    """Outcomes of every line of a JSONL file, in file order, and reader facts.

    The iterator must be consumed to the end (it closes the file and the pool).
    """
    stats = JsonlStats(workers=workers)
    return _outcomes(path, target, stats, progress), stats


def _outcomes(
    path: Path, target: Target, stats: JsonlStats, progress: Callable[[int, int], None] | None
) -> Iterator[Outcome]:
    total = path.stat().st_size
    with path.open("rb") as handle:
        chunks = _counting_blanks(iter_line_chunks(handle), stats)
        if stats.workers <= 1:
            context = CheckContext.for_target(target)
            for item in chunks:
                yield from _run_item(item, context)
                if progress is not None:
                    progress(item.end_offset, total)
            return
        yield from _pooled(chunks, target, stats.workers, total, progress)


def _counting_blanks(
    items: Iterator[LineChunk | OverlongLine], stats: JsonlStats
) -> Iterator[LineChunk | OverlongLine]:
    """Strip a leading BOM and count blank lines, in the parent (cheap C calls)."""
    for item in items:
        if isinstance(item, LineChunk):
            data = item.data
            if item.first_line == 1 and data.startswith(UTF8_BOM):
                stats.bom = True
                item = LineChunk(1, data[len(UTF8_BOM) :], item.end_offset)
            lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            stats.blank_lines += lines - _non_blank(item.data)
        yield item


def _non_blank(data: bytes) -> int:
    if not data.strip():  # a run of blank lines: counted at C speed
        return 0
    return sum(1 for raw in data.split(b"\n") if raw.strip())


def _run_item(item: LineChunk | OverlongLine, context: CheckContext) -> list[Outcome]:
    if isinstance(item, OverlongLine):
        return [problem_outcome(item.line, overlong_problem(item.size))]
    return check_chunk(item.first_line, item.data, context)


def _init_worker(target: Target) -> None:
    global _worker_context
    global _worker_target
    if _worker_context is None or _worker_target != target:
        _worker_target = target
        _worker_context = CheckContext.for_target(target)


def _start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _work(item: LineChunk | OverlongLine) -> list[Outcome]:
    assert _worker_context is not None, "worker initializer did not run"
    return _run_item(item, _worker_context)


def _pooled(
    chunks: Iterator[LineChunk | OverlongLine],
    target: Target,
    workers: int,
    total: int,
    progress: Callable[[int, int], None] | None,
) -> Iterator[Outcome]:
    method = _start_method()
    if method == "fork":
        _init_worker(target)  # inherited by the children: loaded once, pages shared
    pending: deque[tuple[int, Future[list[Outcome]]]] = deque()
    limit = workers * IN_FLIGHT_PER_WORKER
    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=(target,),
    ) as pool:
        for item in chunks:
            pending.append((item.end_offset, pool.submit(_work, item)))
            if len(pending) >= limit:
                yield from _collect(pending, total, progress)
        while pending:
            yield from _collect(pending, total, progress)


def _collect(
    pending: deque[tuple[int, Future[list[Outcome]]]],
    total: int,
    progress: Callable[[int, int], None] | None,
) -> list[Outcome]:
    offset, future = pending.popleft()
    outcomes = future.result()
    if progress is not None:
        progress(offset, total)
    return outcomes


def run_records(records: Iterator[Record], target: Target) -> Iterator[Outcome]:
    """Outcomes of records from the non-JSONL readers (in this process)."""
    context = CheckContext.for_target(target)
    for record in records:
        if record.problem is not None:
            outcome = problem_outcome(record.line, record.problem)
        else:
            outcome = check_value(record.data, line=record.line, ctx=context)
        if record.notes:
            notes = tuple((n.code, n.message, n.fix) for n in record.notes)
            outcome = Outcome(
                outcome.line,
                outcome.format,
                outcome.tokens,
                outcome.trained,
                outcome.estimated,
                outcome.digest,
                outcome.problems + notes,
                outcome.has_system,
                outcome.legacy,
            )
        yield outcome
