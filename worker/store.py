"""Reads and writes of the worker's tables; routes and the runner call these.

Why a class over one engine: several threads (request handlers, the runner,
validation) share one SQLite file, so the engine is created once with WAL and a
busy timeout, and every function opens a short session.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from core.store.schema import Schema, tables_of
from core.store.sqlite import sqlite_engine
from worker import records
from worker.records import CheckpointRecord, EventRecord, FileRecord, JobRecord

R = TypeVar("R", FileRecord, JobRecord, EventRecord, CheckpointRecord)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


WORKER_SCHEMA = Schema(
    name="worker store",
    script_location="worker:migrations",
    metadata=lambda: tables_of([records]),
    upgrade_command="tunebot worker --upgrade-db",
)
"""The worker's SQLite store (``data_dir/worker.db``), migrated apart from the bot's."""


def store_engine(data_dir: Path) -> Engine:
    """The store's engine: the same WAL, busy-timeout and foreign-key setup as the bot's."""
    return sqlite_engine(f"sqlite:///{data_dir / 'worker.db'}")


class WorkerStore:
    """The worker's database in ``data_dir/worker.db``."""

    def __init__(self, data_dir: Path) -> None:
        """Open the store; a new one gets the current tables.

        Raises:
            SchemaOutOfDate: the store was made by an older worker; the message
                names ``tunebot worker --upgrade-db``.
        """
        self.engine: Engine = store_engine(data_dir)
        WORKER_SCHEMA.require_current(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session
            session.commit()

    # --- generic ------------------------------------------------------------
    def add(self, record: R) -> R:
        with self.session() as s:
            s.add(record)
        return record

    def get(self, model: type[R], record_id: str) -> R | None:
        with self.session() as s:
            return s.exec(select(model).where(model.id == record_id)).first()

    def update_job(self, job_id: str, **values: Any) -> JobRecord:
        with self.session() as s:
            job = s.exec(select(JobRecord).where(JobRecord.id == job_id)).one()
            for key, value in values.items():
                setattr(job, key, value)
            s.add(job)
        return job

    def page(
        self,
        model: type[R],
        *,
        after: str | None,
        limit: int,
        job_id: str | None = None,
    ) -> tuple[list[R], bool]:
        """Newest first; ``after`` is the id of the last item of the previous page."""
        with self.session() as s:
            query = select(model)
            if job_id is not None:
                # Files have no job; only event and checkpoint pages are asked with one.
                job_column = getattr(model, "job_id", None)
                if job_column is None:
                    raise ValueError(f"{model.__name__} rows do not belong to a job")
                query = query.where(job_column == job_id)
            if after:
                anchor = s.exec(select(model.seq).where(model.id == after)).first()
                if anchor is None:
                    return [], False
                query = query.where(col(model.seq) < anchor)
            rows = s.exec(query.order_by(col(model.seq).desc()).limit(limit + 1)).all()
        return list(rows[:limit]), len(rows) > limit

    # --- jobs ---------------------------------------------------------------
    def jobs_with_status(self, statuses: Sequence[str]) -> list[JobRecord]:
        """Oldest first: the queue order."""
        with self.session() as s:
            query = select(JobRecord).where(col(JobRecord.status).in_(statuses))
            return list(s.exec(query.order_by(col(JobRecord.seq))).all())

    def job_counts(self) -> dict[str, int]:
        """Jobs per status (for ``/metrics``): one grouped query, no ids."""
        with self.session() as s:
            query = select(JobRecord.status, func.count()).group_by(JobRecord.status)
            return {status: count for status, count in s.exec(query).all()}

    def job_by_model(self, fine_tuned_model: str) -> JobRecord | None:
        with self.session() as s:
            query = select(JobRecord).where(JobRecord.fine_tuned_model == fine_tuned_model)
            return s.exec(query).first()

    def add_event(
        self,
        job_id: str,
        message: str,
        *,
        level: str = "info",
        type_: str = "message",
        data: dict[str, Any] | None = None,
        created_at: int | None = None,
    ) -> EventRecord:
        return self.add(
            EventRecord(
                id=new_id("ftevent"),
                job_id=job_id,
                created_at=created_at or now(),
                level=level,
                type=type_,
                message=message,
                data_json=json.dumps(data) if data is not None else None,
            )
        )

    def events(self, job_id: str, *, type_: str | None = None) -> list[EventRecord]:
        """All events of a job, oldest first (for the metrics CSV)."""
        with self.session() as s:
            query = select(EventRecord).where(EventRecord.job_id == job_id)
            if type_:
                query = query.where(EventRecord.type == type_)
            return list(s.exec(query.order_by(col(EventRecord.seq))).all())

    def stored_file_bytes(self) -> int:
        """Bytes of every stored file (uploads and result files)."""
        with self.session() as s:
            total = s.exec(select(func.coalesce(func.sum(FileRecord.bytes), 0))).one()
        return int(total)

    def events_since(self, job_id: str, seq: int, *, type_: str) -> list[EventRecord]:
        """Events of ``type_`` stored after ``seq``, oldest first."""
        with self.session() as s:
            query = select(EventRecord).where(
                EventRecord.job_id == job_id, EventRecord.type == type_, col(EventRecord.seq) > seq
            )
            return list(s.exec(query.order_by(col(EventRecord.seq))).all())

    def checkpoints(self, job_id: str) -> list[CheckpointRecord]:
        with self.session() as s:
            query = select(CheckpointRecord).where(CheckpointRecord.job_id == job_id)
            return list(s.exec(query.order_by(col(CheckpointRecord.seq))).all())

    def finished_models(self) -> list[JobRecord]:
        with self.session() as s:
            query = select(JobRecord).where(JobRecord.status == "succeeded")
            return list(s.exec(query.order_by(col(JobRecord.seq))).all())


def job_row(session: Session, job_id: str) -> JobRecord:
    """A job's row, in the caller's transaction (ingestion updates it with its events)."""
    return session.exec(select(JobRecord).where(JobRecord.id == job_id)).one()


def recent_metric_events(session: Session, job_id: str, *, limit: int = 5) -> list[EventRecord]:
    """A job's newest metrics events, newest first, in the caller's transaction."""
    query = (
        select(EventRecord)
        .where(EventRecord.job_id == job_id, EventRecord.type == "metrics")
        .order_by(col(EventRecord.seq).desc())
        .limit(limit)
    )
    return list(session.exec(query))
