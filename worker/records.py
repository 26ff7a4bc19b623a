"""The worker's own tables (SQLite in its data dir), apart from the bot's store.

Why its own tables and engine: the worker runs on a GPU machine, often far from
the bot's database; it is a separate service that happens to share the code
base. Table names start with ``worker_`` so they can never clash with
``core.store`` tables in SQLModel's shared metadata. ``seq`` gives a stable
order (queue order, newest-first pages) independent of clock resolution.
"""

from __future__ import annotations

import json

from sqlmodel import Field, SQLModel


class FileRecord(SQLModel, table=True):
    __tablename__ = "worker_files"

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(index=True, unique=True)
    filename: str
    """As the client sent it; shown back, never used to build a path."""
    bytes: int
    purpose: str
    created_at: int


class JobRecord(SQLModel, table=True):
    __tablename__ = "worker_jobs"

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(index=True, unique=True)
    model: str
    """The served model name the client asked for."""
    base_model: str
    """Folder or hub id it resolved to, fixed at creation."""
    training_file: str
    validation_file: str | None = None
    suffix: str | None = None
    seed: int
    status: str = Field(index=True)
    params_json: str
    metadata_json: str | None = None
    method_json: str | None = None
    created_at: int
    started_at: int | None = None
    finished_at: int | None = None
    fine_tuned_model: str | None = Field(default=None, index=True)
    trained_tokens: int | None = None
    estimated_finish: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_param: str | None = None
    result_file: str | None = None
    pid: int | None = None
    launch_id: str | None = None
    """The launcher's handle of the current attempt (a pid, a Ray submission id)."""
    progress_offset: int = 0
    cancel_requested: bool = False
    attempts: int = 0
    """Training process launches, so a job that keeps killing the worker stops."""


class EventRecord(SQLModel, table=True):
    __tablename__ = "worker_events"

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(index=True, unique=True)
    job_id: str = Field(index=True)
    created_at: int
    level: str = "info"
    type: str = "message"
    message: str
    data_json: str | None = None


class CheckpointRecord(SQLModel, table=True):
    __tablename__ = "worker_checkpoints"

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(index=True, unique=True)
    job_id: str = Field(index=True)
    created_at: int
    step: int
    path: str
    metrics_json: str


def job_method(job: JobRecord) -> str:
    """The job's ``method.type``; jobs stored before DPO existed are supervised."""
    return str(json.loads(job.method_json)["type"]) if job.method_json else "supervised"
