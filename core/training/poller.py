"""Polling providers for the jobs this replica has claimed.

One poll is two requests: ``jobs.retrieve`` then the events newer than the
last stored event id (the provider pages from the newest back to that id).
Polls run on a bounded thread pool; each provider gets at most a share of it,
so a slow provider cannot occupy every thread, and a provider that fails with
a timeout is backed off as a whole (one probe job per retry) instead of
timing out once per job. Every result goes straight to the database: the
render phase and a restarted process read it from there.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from core.errors import ProviderError, ProviderTimeout
from core.store.datasets import utcnow
from core.store.engine import session_scope
from core.store.jobs import ACTIVE_STATUSES, FINAL_STATUSES, TrainingJob
from core.store.progress import JobPollState, add_metric_points
from core.training.events import JobEvent, digest, from_timestamp

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 900.0


class JobSource(Protocol):
    """The part of ``core.providers.Provider`` polling needs."""

    name: str

    def retrieve_job(self, job_id: str) -> Any: ...

    def new_events(self, job_id: str, *, after_event_id: str | None) -> Sequence[JobEvent]: ...


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
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="tunebot-poll")
        self._in_flight: set[int] = set()
        self._lock = threading.Lock()
        self._gates: dict[str, _Gate] = defaultdict(_Gate)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _due(self, job_ids: Sequence[int]) -> list[_Due]:
        now = self.clock()
        with session_scope(self.engine) as session:
            rows = session.exec(
                select(TrainingJob, JobPollState)
                .join(JobPollState, JobPollState.job_id == TrainingJob.id)  # type: ignore[arg-type]
                .where(TrainingJob.id.in_(job_ids))  # type: ignore[union-attr]
                .where(JobPollState.finalized == False)  # noqa: E712
                .where(
                    or_(
                        col(JobPollState.provider_status).is_(None),
                        col(JobPollState.provider_status).in_(ACTIVE_STATUSES),
                    )
                )
                .where(JobPollState.next_poll_at <= now)
            ).all()
        return [
            _Due(job.id, job.provider, job.provider_job_id, job.status)  # type: ignore[arg-type]
            for job, _state in rows
            if job.provider_job_id and job.id not in self._in_flight
        ]

    def poll(self, job_ids: Sequence[int], *, deadline_seconds: float) -> TickReport:
        """Poll the due jobs among ``job_ids``; return when done or at the deadline.

        Polls still running at the deadline finish in the background and store
        their results; the job is not polled again until they do.
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
        share = max(1, math.ceil(self.concurrency / max(1, len(queues))))
        running: dict[Future[bool], _Due] = {}
        started = time.monotonic()
        probing: set[str] = set()
        while queues or running:
            for name in list(queues):
                self._submit_some(
                    name, queues, running, share=share, probing=probing, report=report
                )
            if not running:
                break
            left = deadline_seconds - (time.monotonic() - started)
            if left <= 0:
                break
            done, _ = wait(running, timeout=left, return_when=FIRST_COMPLETED)
            for future in done:
                due = running.pop(future)
                self._finish(due, future, report=report, probing=probing)
        report.deferred += sum(len(q) for q in queues.values()) + len(running)
        return report

    def _submit_some(
        self,
        name: str,
        queues: dict[str, deque[_Due]],
        running: dict[Future[bool], _Due],
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
            running[self._pool.submit(self._poll_one, due)] = due
            in_use += 1
            if gate.failures:
                probing.add(name)
        if not queue:
            del queues[name]

    def _finish(
        self, due: _Due, future: Future[bool], *, report: TickReport, probing: set[str]
    ) -> None:
        gate = self._gates[due.provider]
        probing.discard(due.provider)
        try:
            changed = future.result()
        except ProviderError as error:
            report.failed += 1
            if isinstance(error, ProviderTimeout):
                gate.failures += 1
                gate.open_until = time.monotonic() + backoff_seconds(
                    gate.failures - 1, base=self.poll_seconds
                )
            return
        report.polled += 1
        gate.failures = 0
        if changed:
            report.status_changed.append(due.job_id)

    def _poll_one(self, due: _Due) -> bool:
        """Retrieve + new events for one job; store them. Returns whether the status changed."""
        try:
            return self._poll_and_store(due)
        except ProviderError as error:
            self._record_failure(due, error)
            raise
        finally:
            with self._lock:
                self._in_flight.discard(due.job_id)

    def _poll_and_store(self, due: _Due) -> bool:
        provider = self.providers[due.provider]
        with session_scope(self.engine) as session:
            state = session.get(JobPollState, due.job_id)
            after = state.last_event_id if state else None
        job = provider.retrieve_job(due.provider_job_id)
        events = provider.new_events(due.provider_job_id, after_event_id=after)
        facts = digest(events)
        now = self.clock()
        with session_scope(self.engine) as session:
            row = session.get(TrainingJob, due.job_id)
            state = session.get(JobPollState, due.job_id)
            if row is None or state is None:
                return False
            add_metric_points(session, job_id=due.job_id, points=facts.points)
            _apply_job(row, job, now=now)
            state.job_json = job.model_dump_json()
            state.provider_status = str(job.status)
            state.last_event_id = facts.newest_event_id or state.last_event_id
            if facts.queue_position is not None:
                state.queue_position = facts.queue_position
            if state.running_since is None and (
                job.status in ("running", "succeeded") or facts.points
            ):
                state.running_since = facts.started_at or now
            state.last_polled_at = state.provider_last_ok_at = now
            state.failures = 0
            state.last_failure = None
            # Half an interval: due again at the next tick even if ticks drift.
            state.next_poll_at = now + timedelta(seconds=self.poll_seconds * 0.5)
            session.add(row)
            session.add(state)
        return str(job.status) != due.status

    def _record_failure(self, due: _Due, error: ProviderError) -> None:
        logger.warning("polling job %s at %s failed: %s", due.job_id, due.provider, error)
        now = self.clock()
        with session_scope(self.engine) as session:
            state = session.get(JobPollState, due.job_id)
            if state is None:
                return
            state.failures += 1
            state.last_failure = str(error)[:500]
            state.last_polled_at = now
            state.next_poll_at = now + timedelta(
                seconds=backoff_seconds(state.failures - 1, base=self.poll_seconds)
            )
            session.add(state)


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
