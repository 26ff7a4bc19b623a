"""Everything the render phase needs about a batch of jobs, read in a few queries.

The scheduler renders many jobs per tick, so rows are loaded per batch (one
query per table) rather than per job. A :class:`JobView` is a read-only
picture; the functions below it write back what the render phase did.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.store.datasets import Dataset
from core.store.engine import session_scope
from core.store.jobs import TrainingJob
from core.store.progress import POSTED, JobMessage, JobPollState, MetricPoint
from core.training.milestones import Milestone, expected_milestones
from core.training.progress import JobSnapshot, ProgressState, derive_progress, snapshot_from_json


@dataclass
class JobView:
    """One job as the render phase sees it."""

    job: TrainingJob
    state: JobPollState
    uploader_id: str | None
    snapshot: JobSnapshot
    progress: ProgressState
    points: list[MetricPoint]
    expected: list[Milestone]
    messages: dict[str, JobMessage] = field(default_factory=dict)

    @property
    def unposted(self) -> list[Milestone]:
        """Expected replies not yet confirmed in the thread, in posting order."""
        return [
            m
            for m in self.expected
            if m.key not in self.messages or self.messages[m.key].state != POSTED
        ]

    @property
    def is_final(self) -> bool:
        return self.snapshot.is_final


@dataclass(frozen=True)
class _DatasetFacts:
    uploader_id: str
    tokens_per_epoch: int | None


# Dataset rows never change once written; their facts are kept per process so a
# tick does not re-read and re-parse every report (reports can be large).
_DATASET_FACTS: dict[int, _DatasetFacts] = {}
_DATASET_FACTS_MAX = 10_000


def _tokens_per_epoch(report_json: str) -> int | None:
    try:
        value = json.loads(report_json).get("billed_tokens_per_epoch")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def _dataset_facts(session: Session, dataset_ids: set[int]) -> dict[int, _DatasetFacts]:
    missing = dataset_ids - _DATASET_FACTS.keys()
    if missing:
        if len(_DATASET_FACTS) > _DATASET_FACTS_MAX:
            _DATASET_FACTS.clear()
        query = select(Dataset.id, Dataset.uploader_id, Dataset.report_json).where(
            col(Dataset.id).in_(missing)
        )
        for dataset_id, uploader_id, report_json in session.exec(query):
            if dataset_id is not None:
                _DATASET_FACTS[dataset_id] = _DatasetFacts(
                    uploader_id, _tokens_per_epoch(report_json)
                )
    return {i: _DATASET_FACTS[i] for i in dataset_ids if i in _DATASET_FACTS}


def _snapshot(job: TrainingJob, state: JobPollState) -> JobSnapshot:
    if state.job_json:
        return snapshot_from_json(state.job_json)
    return JobSnapshot(status=job.status, created_at=job.created_at)


@dataclass
class _Rows:
    jobs: list[TrainingJob]
    states: dict[int, JobPollState]
    points: dict[int, list[MetricPoint]]
    messages: dict[int, dict[str, JobMessage]]
    datasets: dict[int, _DatasetFacts]


def _load_rows(session: Session, job_ids: Sequence[int]) -> _Rows:
    """One query per table for the whole batch."""
    jobs = list(session.exec(select(TrainingJob).where(col(TrainingJob.id).in_(job_ids))))
    rows = _Rows(
        jobs=jobs,
        states={s.job_id: s for s in _states(session, job_ids)},
        points=defaultdict(list),
        messages=defaultdict(dict),
        datasets=_dataset_facts(session, {j.dataset_id for j in jobs if j.dataset_id}),
    )
    for point in session.exec(
        select(MetricPoint)
        .where(col(MetricPoint.job_id).in_(job_ids))
        .order_by(col(MetricPoint.job_id), col(MetricPoint.step))
    ):
        rows.points[point.job_id].append(point)
    for message in session.exec(select(JobMessage).where(col(JobMessage.job_id).in_(job_ids))):
        rows.messages[message.job_id][message.key] = message
    return rows


def load_views(
    engine: Engine, job_ids: Sequence[int], *, now: datetime, silence_after: timedelta
) -> list[JobView]:
    """Build views for ``job_ids`` (jobs without a poll state or a provider job are left out).

    Parameters:
        now: the tick's clock, aware UTC.
        silence_after: how long a failing provider may stay silent before the
            thread is told (``Settings.provider_silence_alert_seconds``).
    """
    if not job_ids:
        return []
    with session_scope(engine) as session:
        rows = _load_rows(session, job_ids)
    views = []
    for job in rows.jobs:
        state = rows.states.get(job.id) if job.id is not None else None
        if state is None or not job.provider_job_id:
            continue  # no provider job yet: the bot is still starting it
        facts = rows.datasets.get(job.dataset_id) if job.dataset_id else None
        views.append(_view(job, state, rows, facts, now=now, silence_after=silence_after))
    return views


def _view(
    job: TrainingJob,
    state: JobPollState,
    rows: _Rows,
    facts: _DatasetFacts | None,
    *,
    now: datetime,
    silence_after: timedelta,
) -> JobView:
    snapshot = _snapshot(job, state)
    points = rows.points[state.job_id]
    silent = (
        state.provider_last_ok_at
        if state.failures and now - state.provider_last_ok_at >= silence_after
        else None
    )
    return JobView(
        job=job,
        state=state,
        uploader_id=facts.uploader_id if facts else None,
        snapshot=snapshot,
        points=points,
        messages=rows.messages[state.job_id],
        progress=derive_progress(
            snapshot,
            points,
            now=now,
            running_since=state.running_since,
            queue_position=state.queue_position,
            tokens_per_epoch=facts.tokens_per_epoch if facts else None,
        ),
        expected=expected_milestones(
            snapshot,
            points,
            running_since=state.running_since,
            queue_position=state.queue_position,
            silent_since=silent,
        ),
    )


def mark_edited(engine: Engine, *, edits: Sequence[tuple[int, str, datetime]]) -> None:
    """Progress messages now show these renders: (job id, rendered hash, edit time).

    One transaction for the whole tick: SQLite commits are serial and slow.
    """
    if not edits:
        return
    with session_scope(engine) as session:
        states = {s.job_id: s for s in _states(session, [e[0] for e in edits])}
        for job_id, rendered_hash, at in edits:
            state = states.get(job_id)
            if state is not None:
                state.rendered_hash = rendered_hash
                state.last_edit_at = at
                session.add(state)


def set_progress_ts(engine: Engine, *, job_id: int, ts: str) -> None:
    """Remember the progress message posted for a job that had none."""
    with session_scope(engine) as session:
        job = session.get(TrainingJob, job_id)
        if job is not None:
            job.progress_ts = ts
            session.add(job)


def _states(session: Session, job_ids: Iterable[int]) -> list[JobPollState]:
    query = select(JobPollState).where(col(JobPollState.job_id).in_(list(job_ids)))
    return list(session.exec(query))


def set_home_status(engine: Engine, *, statuses: Mapping[int, str]) -> None:
    """The App Home of these jobs' people shows these statuses now (job id -> status)."""
    if not statuses:
        return
    with session_scope(engine) as session:
        for state in _states(session, statuses):
            state.home_status = statuses[state.job_id]
            session.add(state)


def finalize(engine: Engine, *, job_ids: Sequence[int]) -> None:
    """Nothing is left to post or edit for these jobs: stop claiming them."""
    if not job_ids:
        return
    with session_scope(engine) as session:
        for state in _states(session, job_ids):
            state.finalized = True
            state.claim_owner = None
            state.claim_expires_at = None
            session.add(state)
