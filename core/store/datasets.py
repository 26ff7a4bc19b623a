"""Datasets dropped in Slack, and the Slack events already handled."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, Text, delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select

from core.store.engine import session_scope


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: sqlmodel's datetime columns refuse naive values
    and return aware UTC ones, so comparisons stay aware on both sides."""
    return datetime.now(UTC)


class ProcessedEvent(SQLModel, table=True):
    """A Slack event id seen once; the primary key turns a retry into a no-op."""

    __tablename__ = "processed_event"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(default_factory=utcnow)


class Dataset(SQLModel, table=True):
    """A validated file: where it was dropped, who dropped it, what core said."""

    __tablename__ = "dataset"

    id: int | None = Field(default=None, primary_key=True)
    short_id: str = Field(unique=True, index=True, max_length=16)
    slack_file_id: str = Field(index=True, max_length=32)
    team_id: str | None = Field(default=None, max_length=32)
    channel_id: str = Field(index=True, max_length=32)
    thread_ts: str = Field(max_length=32)
    uploader_id: str = Field(index=True, max_length=32)
    file_name: str = Field(max_length=512)
    size_bytes: int = 0
    sha256: str = Field(index=True, max_length=64)
    verdict: str = Field(max_length=16)
    format: str = Field(max_length=32)
    examples: int = 0
    model: str = Field(max_length=128)
    trained_tokens: int = 0
    report_json: str = Field(sa_column=Column(Text, nullable=False))
    # Path (under Settings.data_dir) of the clean chat JSONL a job uploads:
    # the fixed/converted file when one was written, else a copy of the original.
    training_path: str | None = Field(default=None, max_length=1024)
    validation_path: str | None = Field(default=None, max_length=1024)
    created_at: datetime = Field(default_factory=utcnow)


def new_short_id(prefix: str) -> str:
    """A short random id people can type (``ds-3f9a1c``); collisions hit the unique index."""
    return f"{prefix}-{secrets.token_hex(3)}"


def record_event(engine: Engine, *, event_id: str) -> bool:
    """Remember a Slack event id; False when it was already recorded (a retry or a twin)."""
    try:
        with session_scope(engine) as session:
            session.add(ProcessedEvent(event_id=event_id))
    except IntegrityError:
        return False
    return True


def purge_events(engine: Engine, *, older_than: timedelta) -> int:
    """Forget event ids older than ``older_than`` (Slack retries only within minutes)."""
    cutoff = utcnow() - older_than
    with session_scope(engine) as session:
        query = delete(ProcessedEvent).where(col(ProcessedEvent.received_at) < cutoff)
        return int(session.exec(query).rowcount or 0)


def add_dataset(engine: Engine, dataset: Dataset) -> Dataset:
    """Insert a dataset row, retrying the short id on the (rare) collision."""
    for _ in range(5):
        try:
            with session_scope(engine) as session:
                session.add(dataset)
            return dataset
        except IntegrityError:
            dataset.id = None
            dataset.short_id = new_short_id("ds")
    raise RuntimeError("could not allocate a unique dataset short id")


def get_dataset(engine: Engine, dataset_id: int) -> Dataset | None:
    with session_scope(engine) as session:
        return session.get(Dataset, dataset_id)


def find_dataset(
    engine: Engine, *, ref: str, channel_id: str | None = None, team_id: str | None = None
) -> Dataset | None:
    """The dataset a person means by ``ref``: its short id, or the Slack file id
    (the newest validation of that file, preferring ``channel_id`` when given).

    ``team_id``: only that workspace's datasets (many workspaces share the database).
    """
    with session_scope(engine) as session:
        mine = select(Dataset)
        if team_id is not None:
            mine = mine.where(Dataset.team_id == team_id)
        found = session.exec(mine.where(Dataset.short_id == ref.lower())).first()
        if found is not None:
            return found
        query = mine.where(Dataset.slack_file_id == ref.upper())
        if channel_id:
            in_channel = session.exec(
                query.where(Dataset.channel_id == channel_id).order_by(col(Dataset.id).desc())
            ).first()
            if in_channel is not None:
                return in_channel
        return session.exec(query.order_by(col(Dataset.id).desc())).first()


def recent_datasets(
    engine: Engine, *, channel_id: str, team_id: str | None = None, limit: int = 10
) -> list[Dataset]:
    """The newest datasets dropped in a channel (of ``team_id`` when given), newest first."""
    with session_scope(engine) as session:
        query = select(Dataset).where(Dataset.channel_id == channel_id)
        if team_id is not None:
            query = query.where(Dataset.team_id == team_id)
        return list(session.exec(query.order_by(col(Dataset.id).desc()).limit(limit)))


def datasets_by_uploader(engine: Engine, *, user_id: str, limit: int = 10) -> list[Dataset]:
    """The datasets ``user_id`` dropped, newest first."""
    with session_scope(engine) as session:
        return list(
            session.exec(
                select(Dataset)
                .where(Dataset.uploader_id == user_id)
                .order_by(col(Dataset.id).desc())
                .limit(limit)
            ).all()
        )


def uploaders_and_reports(
    engine: Engine, *, dataset_ids: Iterable[int]
) -> list[tuple[int, str, str, str]]:
    """(dataset id, uploader id, report JSON, short id) of each of ``dataset_ids`` that exists."""
    with session_scope(engine) as session:
        query = select(
            Dataset.id, Dataset.uploader_id, Dataset.report_json, Dataset.short_id
        ).where(col(Dataset.id).in_(list(dataset_ids)))
        return [(i, u, r, s) for i, u, r, s in session.exec(query) if i is not None]


def dataset_by_source(engine: Engine, *, source_id: str, sha256: str) -> Dataset | None:
    """The newest dataset taken in from ``source_id`` with exactly this content, if any."""
    with session_scope(engine) as session:
        query = (
            select(Dataset)
            .where(Dataset.slack_file_id == source_id, Dataset.sha256 == sha256)
            .order_by(col(Dataset.id).desc())
        )
        return session.exec(query).first()
