"""Training jobs started from Slack; the scheduler polls the active ones."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from core.store.datasets import utcnow

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
