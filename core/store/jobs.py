"""Training jobs started from Slack; the scheduler polls the active ones."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Column, Text, func, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from core.store.datasets import Dataset, utcnow
from core.store.engine import session_scope

ACTIVE_STATUSES = ("validating_files", "queued", "running", "pending")
FINAL_STATUSES = ("succeeded", "failed", "cancelled")


class TrainingJob(SQLModel, table=True):
    """One provider job. Unique ``request_id`` (the Slack action/view id) and
    ``active_key`` (dataset + options while active) make a double submit one job."""

    __tablename__ = "training_job"

    id: int | None = Field(default=None, primary_key=True)
    short_id: str = Field(unique=True, index=True, max_length=16)
    request_id: str = Field(unique=True, max_length=128)
    # dataset id + options hash while the job is active; NULL once final, so the
    # same dataset can be trained again later (NULLs never collide).
    active_key: str | None = Field(default=None, unique=True, max_length=128)
    dataset_id: int | None = Field(default=None, foreign_key="dataset.id", index=True)
    provider: str = Field(max_length=16)
    provider_job_id: str | None = Field(default=None, index=True, max_length=128)
    training_file_id: str | None = Field(default=None, max_length=128)
    validation_file_id: str | None = Field(default=None, max_length=128)
    base_model: str = Field(max_length=256)
    fine_tuned_model: str | None = Field(default=None, max_length=512)
    status: str = Field(default="pending", index=True, max_length=32)
    options_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    error_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    team_id: str | None = Field(default=None, max_length=32)
    channel_id: str = Field(index=True, max_length=32)
    thread_ts: str = Field(max_length=32)
    progress_ts: str | None = Field(default=None, max_length=32)
    started_by: str = Field(index=True, max_length=32)
    cancelled_by: str | None = Field(default=None, max_length=32)
    estimated_cost_usd: float | None = None
    trained_tokens: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


# Key of the PostgreSQL advisory lock that serialises budget checks: any
# constant works as long as every replica uses the same one ("tunebot$" in hex).
BUDGET_LOCK_KEY = 0x74756E65626F7424


@dataclass(frozen=True)
class BudgetedInsert:
    """What :func:`insert_job_within_budget` did.

    ``outcome``: ``"inserted"``; ``"taken"`` (its request or active key is
    already used); ``"over_budget"`` (nothing inserted). ``spent_usd``: the
    month's spend before this job, read under the lock.
    """

    outcome: Literal["inserted", "taken", "over_budget"]
    spent_usd: float


def insert_job_within_budget(
    engine: Engine, job: TrainingJob, *, cap_usd: float | None
) -> BudgetedInsert:
    """Check this month's spend and insert ``job`` as one serialised step.

    Why: with the check and the insert apart, replicas sharing one database
    each read the same spend and all insert (8 processes, a budget for one
    job: 8 jobs). Here every replica takes the same lock first: PostgreSQL's
    transaction-scoped advisory lock, SQLite's write lock (``BEGIN
    IMMEDIATE``); the lock is released when the transaction ends.

    It is also the "exactly one job per request" gate: the row goes in
    *before* any provider call, so a double click or a twin request finds its
    ``request_id`` or ``active_key`` taken.

    ``cap_usd`` None: no budget, only the insert. A job without an estimated
    cost counts as free here; the caller refuses those when a cap is set.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": BUDGET_LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        spent = _month_spend(conn)
        if cap_usd is not None and spent + (job.estimated_cost_usd or 0.0) > cap_usd:
            conn.rollback()
            return BudgetedInsert("over_budget", spent)
        try:
            with Session(bind=conn, expire_on_commit=False) as session:
                session.add(job)
                session.flush()
                conn.commit()
        except IntegrityError:
            conn.rollback()
            return BudgetedInsert("taken", spent)
    return BudgetedInsert("inserted", spent)


def job_by_request(engine: Engine, *, request_id: str) -> TrainingJob | None:
    with session_scope(engine) as session:
        query = select(TrainingJob).where(TrainingJob.request_id == request_id)
        return session.exec(query).first()


def job_by_active_key(engine: Engine, *, active_key: str) -> TrainingJob | None:
    with session_scope(engine) as session:
        query = select(TrainingJob).where(TrainingJob.active_key == active_key)
        return session.exec(query).first()


def get_job(engine: Engine, job_id: int) -> TrainingJob | None:
    with session_scope(engine) as session:
        return session.get(TrainingJob, job_id)


def find_job(
    engine: Engine, *, ref: str, channel_id: str | None = None, team_id: str | None = None
) -> TrainingJob | None:
    """A job by its short id (``job-1a2b3c``) or the provider's job id (``ftjob-...``).

    ``channel_id``: only a job of that channel (what a command typed there may touch).
    ``team_id``: only a job of that workspace (many workspaces share the database).
    """
    with session_scope(engine) as session:
        query = select(TrainingJob).where(
            (TrainingJob.short_id == ref.lower()) | (TrainingJob.provider_job_id == ref)
        )
        if channel_id is not None:
            query = query.where(TrainingJob.channel_id == channel_id)
        if team_id is not None:
            query = query.where(TrainingJob.team_id == team_id)
        return session.exec(query.order_by(col(TrainingJob.id).desc())).first()


def update_job(engine: Engine, job_id: int, **changes: Any) -> TrainingJob:
    """Set columns on a job; a final status also frees ``active_key`` and sets ``finished_at``.

    Raises:
        KeyError: no job with this id.
    """
    with session_scope(engine) as session:
        job = session.get(TrainingJob, job_id)
        if job is None:
            raise KeyError(job_id)
        for name, value in changes.items():
            setattr(job, name, value)
        if job.status in FINAL_STATUSES:
            job.active_key = None
            job.finished_at = job.finished_at or utcnow()
        job.updated_at = utcnow()
        session.add(job)
        return job


def fail_job(engine: Engine, job_id: int, *, error: Mapping[str, Any]) -> TrainingJob:
    """Mark a job failed before or during start (``error`` is shown to people)."""
    return update_job(engine, job_id, status="failed", error_json=json.dumps(dict(error)))


def recent_jobs(
    engine: Engine, *, channel_id: str | None = None, team_id: str | None = None, limit: int = 10
) -> list[TrainingJob]:
    """The newest jobs (in a channel, of a workspace, when given), newest first."""
    with session_scope(engine) as session:
        query = select(TrainingJob)
        if channel_id:
            query = query.where(TrainingJob.channel_id == channel_id)
        if team_id is not None:
            query = query.where(TrainingJob.team_id == team_id)
        return list(session.exec(query.order_by(col(TrainingJob.id).desc()).limit(limit)))


def active_jobs(engine: Engine) -> list[TrainingJob]:
    """Jobs a provider is working on (they have a provider job id and no final status)."""
    with session_scope(engine) as session:
        query = select(TrainingJob).where(
            col(TrainingJob.status).in_(ACTIVE_STATUSES),
            col(TrainingJob.provider_job_id).is_not(None),
        )
        return list(session.exec(query.order_by(col(TrainingJob.id))))


def job_counts(engine: Engine) -> dict[tuple[str, str], int]:
    """Jobs per (provider, status), for the bot's ``/metrics``: counts only, no ids."""
    with session_scope(engine) as session:
        query = select(TrainingJob.provider, TrainingJob.status, func.count()).group_by(
            TrainingJob.provider, TrainingJob.status
        )
        return {(provider, status): count for provider, status, count in session.exec(query)}


def month_spend_usd(engine: Engine, *, now: datetime | None = None) -> float:
    """Estimated cost of this calendar month's (UTC) jobs that reached a provider.

    Jobs that failed before the provider accepted them cost nothing and are left out.
    """
    with engine.connect() as conn:
        return _month_spend(conn, now=now)


def _month_spend(conn: Connection, *, now: datetime | None = None) -> float:
    now = now or utcnow()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    query = select(func.coalesce(func.sum(TrainingJob.estimated_cost_usd), 0.0)).where(
        TrainingJob.created_at >= start,
        (col(TrainingJob.provider_job_id).is_not(None)) | (TrainingJob.status == "starting"),
    )
    return float(conn.execute(query).scalar_one() or 0.0)


def jobs_of_user(engine: Engine, *, user_id: str, limit: int = 10) -> list[TrainingJob]:
    """Jobs ``user_id`` started or that train a dataset they dropped, newest first."""
    with session_scope(engine) as session:
        return list(
            session.exec(
                select(TrainingJob)
                .outerjoin(Dataset, col(Dataset.id) == col(TrainingJob.dataset_id))
                .where((TrainingJob.started_by == user_id) | (Dataset.uploader_id == user_id))
                .order_by(col(TrainingJob.id).desc())
                .limit(limit)
            ).all()
        )


def last_outcomes(engine: Engine) -> dict[str, TrainingJob]:
    """Each provider's most recent succeeded or failed job (what it last told us)."""
    with session_scope(engine) as session:
        query = (
            select(TrainingJob)
            .where(col(TrainingJob.status).in_(("succeeded", "failed")))
            .order_by(col(TrainingJob.id).desc())
            .limit(200)
        )
        found: dict[str, TrainingJob] = {}
        for job in session.exec(query):
            found.setdefault(job.provider, job)
        return found
