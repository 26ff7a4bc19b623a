"""Shared setup for the store and training tests: a fresh SQLite database and job rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from core.store.engine import create_db_engine, init_db, session_scope
from core.store.jobs import TrainingJob

_ids = itertools.count(1)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    db = create_db_engine(f"sqlite:///{tmp_path / 'tunebot.db'}")
    init_db(db)
    yield db
    db.dispose()


def add_job(engine: Engine, **fields: object) -> TrainingJob:
    """Insert a running-style job row as the bot would after starting it."""
    n = next(_ids)
    values: dict[str, object] = {
        "short_id": f"job-{n:04d}",
        "request_id": f"req-{n}",
        "provider": "openai",
        "provider_job_id": f"ftjob-{n}",
        "base_model": "gpt-4o-mini-2024-07-18",
        "status": "validating_files",
        "channel_id": "C0TUNEBOT",
        "thread_ts": "1700000000.000100",
        "progress_ts": None,
        "started_by": "U0ALICE",
    }
    values.update(fields)
    job = TrainingJob(**values)  # type: ignore[arg-type]
    with session_scope(engine) as session:
        session.add(job)
    return job
