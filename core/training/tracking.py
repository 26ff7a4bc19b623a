"""Everything the render phase needs about a batch of jobs, read in a few queries.

The scheduler renders many jobs per tick, so rows are loaded per batch (one
query per table, :func:`core.store.progress.load_poll_rows`) rather than per
job. A :class:`JobView` is a read-only picture; the render phase writes back
through :func:`core.store.progress.update_poll_states`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from core.store.datasets import uploaders_and_reports
from core.store.jobs import TrainingJob
from core.store.progress import (
    POSTED,
    JobMessage,
    JobPollState,
    MetricPoint,
    PollRows,
    load_poll_rows,
)
from core.training.milestones import Milestone, expected_milestones, finished_epochs
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
    epochs: list[Milestone] = field(default_factory=list)
    dataset_short_id: str | None = None

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
    uploader_id: str | None
    tokens_per_epoch: int | None
    short_id: str


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


def _dataset_facts(engine: Engine, dataset_ids: set[int]) -> dict[int, _DatasetFacts]:
    missing = dataset_ids - _DATASET_FACTS.keys()
    if missing:
        if len(_DATASET_FACTS) > _DATASET_FACTS_MAX:
            _DATASET_FACTS.clear()
        for dataset_id, uploader_id, report_json, short_id in uploaders_and_reports(
            engine, dataset_ids=missing
        ):
            _DATASET_FACTS[dataset_id] = _DatasetFacts(
                uploader_id, _tokens_per_epoch(report_json), short_id
            )
    return {i: _DATASET_FACTS[i] for i in dataset_ids if i in _DATASET_FACTS}


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
    rows = load_poll_rows(engine, job_ids=job_ids)
    datasets = _dataset_facts(engine, {j.dataset_id for j in rows.jobs if j.dataset_id})
    views = []
    for job in rows.jobs:
        state = rows.states.get(job.id) if job.id is not None else None
        if state is None or not job.provider_job_id:
            continue  # no provider job yet: the bot is still starting it
        facts = datasets.get(job.dataset_id) if job.dataset_id else None
        views.append(_view(job, state, rows, facts, now=now, silence_after=silence_after))
    return views


def _view(
    job: TrainingJob,
    state: JobPollState,
    rows: PollRows,
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
        epochs=finished_epochs(snapshot, points),
        dataset_short_id=facts.short_id if facts else None,
    )
