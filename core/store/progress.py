"""What the progress scheduler knows about each job, kept in SQL so a restart resumes.

Three tables:

* ``metric_point``: one row per (job, step) from the provider's metrics events;
  the unique key makes re-reading an event page harmless.
* ``job_message``: every thread message the bot posts to a job's thread
  (milestones, the result, the loss curve, the held-out report), recorded in
  two phases: an *intent* row before the Slack call and the message ts after
  it. A crash between the two leaves an intent that the next run reconciles
  against the thread instead of guessing.
* ``job_poll_state``: per-job polling bookkeeping (newest event id, backoff,
  last provider answer, last edit and its rendered hash, the claim lease that
  keeps one replica per job).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint, func, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from core.store.datasets import utcnow
from core.store.engine import session_scope
from core.store.jobs import ACTIVE_STATUSES, TrainingJob

INTENT = "intent"
POSTED = "posted"


class MetricPoint(SQLModel, table=True):
    """One training step's metrics as the provider reported them."""

    __tablename__ = "metric_point"
    __table_args__ = (UniqueConstraint("job_id", "step", name="uq_metric_point_job_step"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="training_job.id", index=True)
    step: int
    total_steps: int | None = None
    epoch: float | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    tokens_per_second: float | None = None
    reported_at: datetime = Field(default_factory=utcnow)


class JobMessage(SQLModel, table=True):
    """A thread message the scheduler means to post (``intent``) or has posted."""

    __tablename__ = "job_message"
    __table_args__ = (UniqueConstraint("job_id", "key", name="uq_job_message_job_key"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="training_job.id", index=True)
    key: str = Field(max_length=64)
    state: str = Field(default=INTENT, max_length=16)
    ts: str | None = Field(default=None, max_length=32)
    intent_at: datetime = Field(default_factory=utcnow)
    posted_at: datetime | None = None


class JobPollState(SQLModel, table=True):
    """Polling bookkeeping for one job; ``finalized`` once nothing is left to post."""

    __tablename__ = "job_poll_state"

    job_id: int = Field(foreign_key="training_job.id", primary_key=True)
    last_event_id: str | None = Field(default=None, max_length=128)
    job_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The provider's status at the last poll; polling stops once it is final,
    # even when the job row went final first (a cancel from Slack).
    provider_status: str | None = Field(default=None, max_length=32)
    queue_position: int | None = None
    running_since: datetime | None = None
    last_polled_at: datetime | None = None
    next_poll_at: datetime = Field(default_factory=utcnow, index=True)
    failures: int = 0
    last_failure: str | None = Field(default=None, max_length=512)
    provider_last_ok_at: datetime = Field(default_factory=utcnow)
    last_edit_at: datetime | None = None
    rendered_hash: str | None = Field(default=None, max_length=64)
    home_status: str | None = Field(default=None, max_length=32)
    claim_owner: str | None = Field(default=None, max_length=128)
    claim_expires_at: datetime | None = None
    finalized: bool = Field(default=False, index=True)


@dataclass(frozen=True)
class NewPoint:
    """A metrics event reduced to the fields the progress message shows."""

    step: int
    total_steps: int | None
    epoch: float | None
    train_loss: float | None
    valid_loss: float | None
    tokens_per_second: float | None
    reported_at: datetime


def ensure_poll_states(session: Session) -> int:
    """Give every active job that has none a poll-state row; return how many were missing.

    One statement for all of them; two replicas racing here both succeed, the
    primary key turning the loser's rows into no-ops.
    """
    missing = session.exec(
        select(TrainingJob.id)
        .outerjoin(JobPollState, col(JobPollState.job_id) == col(TrainingJob.id))
        .where(col(TrainingJob.status).in_(ACTIVE_STATUSES))
        .where(col(JobPollState.job_id).is_(None))
    ).all()
    now = utcnow()
    rows = [
        {
            "job_id": job_id,
            "next_poll_at": now,
            "provider_last_ok_at": now,
            "failures": 0,
            "finalized": False,
        }
        for job_id in missing
    ]
    _insert(session, JobPollState, rows, key=["job_id"])
    return len(rows)


def _insert(
    session: Session,
    model: type[SQLModel],
    rows: Sequence[Mapping[str, object]],
    *,
    key: list[str],
    merge: Sequence[str] = (),
) -> None:
    """Multi-row insert; a row whose ``key`` exists is skipped, or, with ``merge``,
    fills those columns where the new value is not null (``COALESCE``)."""
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Table classes get __table__ from SQLModel's metaclass at run time; no stub says so.
    table = model.__table__  # type: ignore[attr-defined]
    # Chunks keep each statement under SQLite's limit on bound parameters.
    for start in range(0, len(rows), 500):
        statement = insert(table).values(list(rows[start : start + 500]))
        if merge:
            fill = {c: func.coalesce(statement.excluded[c], table.c[c]) for c in merge}
            statement = statement.on_conflict_do_update(index_elements=key, set_=fill)
        else:
            statement = statement.on_conflict_do_nothing(index_elements=key)
        session.execute(statement)


def claim_jobs(
    session: Session, *, owner: str, now: datetime, lease: timedelta, limit: int = 10_000
) -> list[int]:
    """Claim unfinished jobs not leased to another replica; return their ids.

    On PostgreSQL the candidate rows are locked with ``FOR UPDATE SKIP LOCKED``
    so two replicas claiming at once split the jobs instead of both taking them;
    SQLite has one writer at a time, which gives the same guarantee.

    Parameters:
        owner: this replica's id (``Settings.replica_id`` or the host name).
        now: the tick's clock, aware UTC.
        lease: how long the claim holds without renewal (a dead replica's jobs
            are picked up once it runs out).
        limit: most jobs claimed in one call.
    """
    query = (
        select(JobPollState)
        .where(col(JobPollState.finalized).is_(False))
        .where(
            or_(
                col(JobPollState.claim_owner).is_(None),
                col(JobPollState.claim_owner) == owner,
                col(JobPollState.claim_expires_at) < now,
            )
        )
        .order_by(col(JobPollState.job_id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    states = list(session.exec(query))
    for state in states:
        state.claim_owner = owner
        state.claim_expires_at = now + lease
        session.add(state)
    return [state.job_id for state in states]


def release_claims(session: Session, *, owner: str) -> None:
    """Let another replica take this one's jobs at once (clean shutdown)."""
    for state in session.exec(select(JobPollState).where(JobPollState.claim_owner == owner)):
        state.claim_owner = None
        state.claim_expires_at = None
        session.add(state)


_POINT_VALUES = ("total_steps", "epoch", "train_loss", "valid_loss", "tokens_per_second")


def add_metric_points(session: Session, *, job_id: int, points: Iterable[NewPoint]) -> None:
    """Store points by step; a step seen again keeps its values, updated by any the
    new event carries (None never erases).

    Events can be read twice (a crash before the newest event id was saved),
    and the worker reports a step's validation loss in a second event.
    """
    merged: dict[int, dict[str, object]] = {}
    for p in points:
        row = merged.setdefault(
            p.step, {"job_id": job_id, "step": p.step, "reported_at": p.reported_at}
        )
        for name in _POINT_VALUES:
            value = getattr(p, name)
            row[name] = value if value is not None else row.get(name)
    _insert(
        session, MetricPoint, list(merged.values()), key=["job_id", "step"], merge=_POINT_VALUES
    )


def get_message(session: Session, *, job_id: int, key: str) -> JobMessage | None:
    """The record of reply ``key`` of a job, None before its intent is recorded."""
    query = select(JobMessage).where(JobMessage.job_id == job_id, JobMessage.key == key)
    return session.exec(query).first()


def record_intent(session: Session, *, job_id: int, key: str) -> JobMessage:
    """Phase one: note that ``key`` is about to be posted (or return the existing record).

    Commit this before the Slack call: then a crash after posting leaves an
    intent to reconcile rather than no trace at all.
    """
    existing = get_message(session, job_id=job_id, key=key)
    if existing is not None:
        return existing
    message = JobMessage(job_id=job_id, key=key)
    session.add(message)
    session.flush()
    return message


def record_posted(session: Session, *, job_id: int, key: str, ts: str | None) -> None:
    """Phase two: the message is in the thread (``ts``, or the file id of an upload)."""
    message = get_message(session, job_id=job_id, key=key) or JobMessage(job_id=job_id, key=key)
    message.state = POSTED
    message.ts = ts
    message.posted_at = utcnow()
    session.add(message)


@dataclass
class PollRows:
    """Everything the scheduler reads for a batch of jobs: one query per table."""

    jobs: list[TrainingJob]
    states: dict[int, JobPollState]
    points: dict[int, list[MetricPoint]]
    messages: dict[int, dict[str, JobMessage]]


def load_poll_rows(engine: Engine, *, job_ids: Sequence[int]) -> PollRows:
    """The jobs, poll states, metric points (by step) and thread messages of ``job_ids``."""
    with session_scope(engine) as session:
        jobs = list(session.exec(select(TrainingJob).where(col(TrainingJob.id).in_(job_ids))))
        rows = PollRows(
            jobs=jobs,
            states={s.job_id: s for s in _poll_states(session, job_ids)},
            points=defaultdict(list),
            messages=defaultdict(dict),
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


def _poll_states(session: Session, job_ids: Iterable[int]) -> list[JobPollState]:
    query = select(JobPollState).where(col(JobPollState.job_id).in_(list(job_ids)))
    return list(session.exec(query))


def update_poll_states(engine: Engine, *, changes: Mapping[int, Mapping[str, Any]]) -> None:
    """Set columns of several jobs' poll states in one transaction (job id -> column values).

    One transaction for the whole tick: SQLite commits are serial and slow.

    Raises:
        AttributeError: a column name that ``JobPollState`` does not have.
    """
    if not changes:
        return
    with session_scope(engine) as session:
        for state in _poll_states(session, changes):
            for name, value in changes[state.job_id].items():
                if name not in JobPollState.model_fields:
                    raise AttributeError(f"JobPollState has no column {name!r}")
                setattr(state, name, value)
            session.add(state)


def due_polls(
    engine: Engine, *, job_ids: Sequence[int], now: datetime
) -> list[tuple[TrainingJob, JobPollState]]:
    """Jobs among ``job_ids`` whose provider should be asked now: not finalized, not
    known final at the provider, next poll time reached."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(TrainingJob, JobPollState)
            .join(JobPollState, col(JobPollState.job_id) == col(TrainingJob.id))
            .where(col(TrainingJob.id).in_(job_ids))
            .where(col(JobPollState.finalized).is_(False))
            .where(
                or_(
                    col(JobPollState.provider_status).is_(None),
                    col(JobPollState.provider_status).in_(ACTIVE_STATUSES),
                )
            )
            .where(JobPollState.next_poll_at <= now)
        ).all()
    return [(job, state) for job, state in rows]


def jobs_with_poll_states(
    session: Session, *, job_ids: Sequence[int]
) -> tuple[dict[int, TrainingJob], dict[int, JobPollState]]:
    """The job rows and poll states of ``job_ids``, by job id, in the caller's transaction."""
    jobs = {
        r.id: r
        for r in session.exec(select(TrainingJob).where(col(TrainingJob.id).in_(job_ids)))
        if r.id is not None
    }
    return jobs, {s.job_id: s for s in _poll_states(session, job_ids)}
