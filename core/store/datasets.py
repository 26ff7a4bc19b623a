"""Datasets dropped in Slack, and the Slack events already handled."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


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
