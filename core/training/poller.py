"""Polling providers for the jobs this replica has claimed.

One poll is two requests: ``jobs.retrieve`` then the events newer than the
last stored event id (the provider pages from the newest back to that id).
Polls run as tasks on one event loop thread, through the SDK's async client
(``core.providers.JobReader``): with a thread per poll the process spent as
much CPU handing the GIL between threads as on the requests. At most
``concurrency`` polls are in flight and each provider gets at most a share of
them, so a slow provider cannot take every slot, and a provider that fails
with a timeout is backed off as a whole (one probe job per retry) instead of
timing out once per job. Answers are written to the database in one
transaction per pass: the render phase and a restarted process read them
from there.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.errors import ProviderError, ProviderTimeout
from core.logs import log_ids
from core.store.datasets import utcnow
from core.store.engine import session_scope
from core.store.jobs import FINAL_STATUSES, TrainingJob
from core.store.progress import (
    JobPollState,
    add_metric_points,
    due_polls,
    jobs_with_poll_states,
)
from core.training.events import EventDigest, JobEvent, digest, from_timestamp

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 900.0


class JobReader(Protocol):
    """The part of ``core.providers.JobReader`` polling needs (used on one event loop)."""

    async def retrieve_job(self, job_id: str) -> Any: ...

    async def new_events(
        self, job_id: str, *, after_event_id: str | None
    ) -> Sequence[JobEvent]: ...

    async def aclose(self) -> None: ...


class JobSource(Protocol):
    """The part of ``core.providers.Provider`` polling needs."""

    def job_reader(self) -> JobReader: ...


@dataclass
class TickReport:
    """What one polling pass did (for logs, tests and the benchmark)."""

    polled: int = 0
    failed: int = 0
    deferred: int = 0
    status_changed: list[int] = field(default_factory=list)


def backoff_seconds(failures: int, *, base: float) -> float:
    """Doubling delay after consecutive failures, capped at 15 minutes."""
    return float(min(MAX_BACKOFF_SECONDS, base * 2 ** min(failures, 10)))


@dataclass
class _Due:
    job_id: int
    provider: str
    provider_job_id: str
    status: str
    after_event_id: str | None


@dataclass
class _Outcome:
    """One poll's answer (``job`` and ``facts``) or its error, stored in a batch."""

    due: _Due
    at: datetime
    job: Any = None
    facts: EventDigest | None = None
    error: Exception | None = None


@dataclass
class _Gate:
    """A provider-wide circuit: after a timeout, wait, then let one probe through."""

    failures: int = 0
    open_until: float = 0.0


class Poller:
    """Polls claimed jobs concurrently and stores what the providers said.

    Parameters:
        engine: the database.
        providers: provider name -> client (``core.providers.build_providers``).
        poll_seconds: the normal interval; backoff starts from it.
        concurrency: most polls in flight across all providers.
        clock: aware-UTC now, replaceable in tests.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        providers: Mapping[str, JobSource],
        poll_seconds: float,
        concurrency: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.providers = providers
        self.poll_seconds = poll_seconds
        self.concurrency = max(1, concurrency)
        self.clock = clock
        self._in_flight: set[int] = set()
        self._lock = threading.Lock()
        self._gates: dict[str, _Gate] = defaultdict(_Gate)
        # Everything below lives on the loop thread: readers (their connections
        # belong to this loop) and polls still running after a pass's deadline.
        self._readers: dict[str, JobReader] = {}
        self._late: set[asyncio.Task[_Outcome]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tunebot-poll", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Drop the polls still running, close the readers' connections, stop the loop."""
        if self._loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    async def _shutdown(self) -> None:
        for task in self._late:
            task.cancel()
        await asyncio.gather(*self._late, return_exceptions=True)
        readers = self._readers.values()
        await asyncio.gather(*(reader.aclose() for reader in readers), return_exceptions=True)

    def _due(self, job_ids: Sequence[int]) -> list[_Due]:
        rows = due_polls(self.engine, job_ids=job_ids, now=self.clock())
        return [
            # Rows read back from the database always have an id; SQLModel types it int | None.
            _Due(job.id, job.provider, job.provider_job_id, job.status, state.last_event_id)  # type: ignore[arg-type]
            for job, state in rows
            if job.provider_job_id and job.id not in self._in_flight
        ]

    def poll(self, job_ids: Sequence[int], *, deadline_seconds: float) -> TickReport:
        """Poll the due jobs among ``job_ids``; return when done or at the deadline.

        Answers are written in one transaction at the end (SQLite commits one
        writer at a time, so a commit per job would serialise the pool). Polls
        still running at the deadline store their own answer when they finish;
        the job is not polled again until then.
        """
        report = TickReport()
        queues: dict[str, deque[_Due]] = defaultdict(deque)
        for due in self._due(job_ids):
            if due.provider not in self.providers:
                logger.warning(
                    "job %s uses provider %r, which is not configured", due.job_id, due.provider
                )
                continue
            queues[due.provider].append(due)
        polls = self._polls(queues, deadline_seconds=deadline_seconds, report=report)
        outcomes = asyncio.run_coroutine_threadsafe(polls, self._loop).result()
        report.status_changed = self._store(outcomes)
        return report

    async def _polls(
        self, queues: dict[str, deque[_Due]], *, deadline_seconds: float, report: TickReport
    ) -> list[_Outcome]:
        """Run the queued polls within the bounds (on the loop); return the answers in time."""
        running: dict[asyncio.Task[_Outcome], _Due] = {}
        outcomes: list[_Outcome] = []
        started = time.monotonic()
        probing: set[str] = set()
        while queues or running:
            # Providers with work share the slots; one that is done leaves its share to the rest.
            busy = set(queues) | {due.provider for due in running.values()}
            share = max(1, math.ceil(self.concurrency / max(1, len(busy))))
            for name in list(queues):
                self._submit_some(
                    name, queues, running, share=share, probing=probing, report=report
                )
            if not running:
                break
            left = deadline_seconds - (time.monotonic() - started)
            if left <= 0:
                break
            done, _ = await asyncio.wait(running, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                running.pop(task)
                outcomes.append(self._finish(task.result(), report=report, probing=probing))
        for task in running:
            self._late.add(task)
            task.add_done_callback(self._store_late)
        report.deferred += sum(len(q) for q in queues.values()) + len(running)
        return outcomes

    def _store_late(self, task: asyncio.Task[_Outcome]) -> None:
        """A poll that outlived its pass stores its own answer (off the loop: SQLite may wait)."""
        self._late.discard(task)
        if not task.cancelled():
            stored = self._loop.run_in_executor(None, self._store, [task.result()])
            stored.add_done_callback(_log_store_failure)

    def _submit_some(
        self,
        name: str,
        queues: dict[str, deque[_Due]],
        running: dict[asyncio.Task[_Outcome], _Due],
        *,
        share: int,
        probing: set[str],
        report: TickReport,
    ) -> None:
        gate = self._gates[name]
        queue = queues[name]
        if gate.failures and time.monotonic() < gate.open_until:
            report.deferred += len(queue)
            del queues[name]
            return
        in_use = sum(1 for due in running.values() if due.provider == name)
        limit = 1 if gate.failures else share
        if name in probing:
            return
        while queue and in_use < limit:
            due = queue.popleft()
            with self._lock:
                self._in_flight.add(due.job_id)
            running[self._loop.create_task(self._fetch(due))] = due
            in_use += 1
            if gate.failures:
                probing.add(name)
        if not queue:
            del queues[name]

    def _finish(self, outcome: _Outcome, *, report: TickReport, probing: set[str]) -> _Outcome:
        """Count the outcome and move the provider's gate (open on timeouts, close on success)."""
        gate = self._gates[outcome.due.provider]
        probing.discard(outcome.due.provider)
        if outcome.error is None:
            report.polled += 1
        else:
            report.failed += 1
        if isinstance(outcome.error, ProviderTimeout):
            gate.failures += 1
            gate.open_until = time.monotonic() + backoff_seconds(
                gate.failures - 1, base=self.poll_seconds
            )
        else:
            gate.failures = 0  # the provider answered (maybe "no" for this job): it is up
        return outcome

    async def _fetch(self, due: _Due) -> _Outcome:
        """Retrieve + new events for one job (network only; storing happens in a batch)."""
        with log_ids(job_id=str(due.job_id)):  # this task's log lines name the job
            return await self._fetch_job(due)

    async def _fetch_job(self, due: _Due) -> _Outcome:
        try:
            reader = self._reader(due.provider)
            job = await reader.retrieve_job(due.provider_job_id)
            events = await reader.new_events(due.provider_job_id, after_event_id=due.after_event_id)
            facts = digest(events)
        except ProviderError as error:
            logger.warning("polling job %s at %s failed: %s", due.job_id, due.provider, error)
            return _Outcome(due=due, at=self.clock(), error=error)
        except Exception as error:
            # A bug or an answer we cannot read: back this job off, keep polling the rest.
            logger.exception("polling job %s at %s failed unexpectedly", due.job_id, due.provider)
            return _Outcome(due=due, at=self.clock(), error=error)
        return _Outcome(due=due, at=self.clock(), job=job, facts=facts)

    def _reader(self, name: str) -> JobReader:
        reader = self._readers.get(name)
        if reader is None:
            reader = self._readers[name] = self.providers[name].job_reader()
        return reader

    def _store(self, outcomes: Sequence[_Outcome]) -> list[int]:
        """Write answers and failures in one transaction; return jobs whose status changed."""
        changed: list[int] = []
        if not outcomes:
            return changed
        ids = [o.due.job_id for o in outcomes]
        try:
            with session_scope(self.engine) as session:
                rows, states = jobs_with_poll_states(session, job_ids=ids)
                for outcome in outcomes:
                    row, state = rows.get(outcome.due.job_id), states.get(outcome.due.job_id)
                    if row is None or state is None:
                        continue
                    if outcome.error is not None:
                        self._note_failure(state, outcome.error, now=outcome.at)
                    else:
                        self._note_answer(session, row, state, outcome)
                        if row.status != outcome.due.status:
                            # A row read back always has an id; SQLModel types it int | None.
                            changed.append(row.id)  # type: ignore[arg-type]
                    session.add(row)
                    session.add(state)
        finally:
            with self._lock:
                self._in_flight.difference_update(ids)
        return changed

    def _note_answer(
        self, session: Session, row: TrainingJob, state: JobPollState, outcome: _Outcome
    ) -> None:
        job, facts, now = outcome.job, outcome.facts, outcome.at
        assert facts is not None
        add_metric_points(session, job_id=state.job_id, points=facts.points)
        _apply_job(row, job, now=now)
        state.job_json = job.model_dump_json()
        state.provider_status = str(job.status)
        state.last_event_id = facts.newest_event_id or state.last_event_id
        if facts.queue_position is not None:
            state.queue_position = facts.queue_position
        if state.running_since is None and (job.status in ("running", "succeeded") or facts.points):
            state.running_since = facts.started_at or now
        state.last_polled_at = state.provider_last_ok_at = now
        state.failures = 0
        state.last_failure = None
        # Half an interval: due again at the next tick even if ticks drift.
        state.next_poll_at = now + timedelta(seconds=self.poll_seconds * 0.5)

    def _note_failure(self, state: JobPollState, error: Exception, *, now: datetime) -> None:
        state.failures += 1
        state.last_failure = str(error)[:500]
        state.last_polled_at = now
        state.next_poll_at = now + timedelta(
            seconds=backoff_seconds(state.failures - 1, base=self.poll_seconds)
        )


def _log_store_failure(stored: asyncio.Future[list[int]]) -> None:
    """Nobody waits for a late poll's write: say when it failed (the job is polled again)."""
    if not stored.cancelled() and stored.exception() is not None:
        logger.error("storing a late poll failed", exc_info=stored.exception())


def _apply_job(row: TrainingJob, job: Any, *, now: datetime) -> None:
    """Copy the provider's answer onto the job row the rest of the bot reads."""
    # A row already final (cancelled from Slack) keeps its status while the
    # provider is still winding the job down.
    if row.status not in FINAL_STATUSES or job.status in FINAL_STATUSES:
        row.status = str(job.status)
    row.fine_tuned_model = job.fine_tuned_model or row.fine_tuned_model
    if job.trained_tokens is not None:
        row.trained_tokens = job.trained_tokens
    if job.error is not None and getattr(job.error, "message", None):
        row.error_json = job.error.model_dump_json()
    if row.status in FINAL_STATUSES:
        row.finished_at = from_timestamp(job.finished_at) if job.finished_at else now
        row.active_key = None
    row.updated_at = now
