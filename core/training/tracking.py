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
from functools import lru_cache

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


@lru_cache(maxsize=4096)
def _tokens_per_epoch(report_json: str) -> int | None:
    try:
        value = json.loads(report_json).get("billed_tokens_per_epoch")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def _snapshot(job: TrainingJob, state: JobPollState) -> JobSnapshot:
    if state.job_json:
        return snapshot_from_json(state.job_json)
    return JobSnapshot(status=job.status, created_at=job.created_at)


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
        jobs = session.exec(select(TrainingJob).where(col(TrainingJob.id).in_(job_ids))).all()
        states = {
            s.job_id: s
            for s in session.exec(select(JobPollState).where(col(JobPollState.job_id).in_(job_ids)))
        }
        points: dict[int, list[MetricPoint]] = defaultdict(list)
        for point in session.exec(
            select(MetricPoint)
            .where(col(MetricPoint.job_id).in_(job_ids))
            .order_by(col(MetricPoint.job_id), col(MetricPoint.step))
        ):
            points[point.job_id].append(point)
        messages: dict[int, dict[str, JobMessage]] = defaultdict(dict)
        for message in session.exec(select(JobMessage).where(col(JobMessage.job_id).in_(job_ids))):
            messages[message.job_id][message.key] = message
        dataset_ids = {j.dataset_id for j in jobs if j.dataset_id is not None}
        datasets = (
            {d.id: d for d in session.exec(select(Dataset).where(col(Dataset.id).in_(dataset_ids)))}
            if dataset_ids
            else {}
        )
    views = []
    for job in jobs:
        state = states.get(job.id)  # type: ignore[arg-type]
        if state is None or job.id is None or not job.provider_job_id:
            continue  # no provider job yet: the bot is still starting it
        dataset = datasets.get(job.dataset_id) if job.dataset_id is not None else None
        snapshot = _snapshot(job, state)
        job_points = points[job.id]
        silent = (
            state.provider_last_ok_at
            if state.failures and now - state.provider_last_ok_at >= silence_after
            else None
        )
        views.append(
            JobView(
                job=job,
                state=state,
                uploader_id=dataset.uploader_id if dataset else None,
                snapshot=snapshot,
                points=job_points,
                messages=messages[job.id],
                progress=derive_progress(
                    snapshot,
                    job_points,
                    now=now,
                    running_since=state.running_since,
                    queue_position=state.queue_position,
                    tokens_per_epoch=_tokens_per_epoch(dataset.report_json) if dataset else None,
                ),
                expected=expected_milestones(
                    snapshot,
                    job_points,
                    running_since=state.running_since,
                    queue_position=state.queue_position,
                    silent_since=silent,
                ),
            )
        )
    return views


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
