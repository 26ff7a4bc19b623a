"""Two replicas claiming jobs at once on a real PostgreSQL: each job goes to one of them.

The throwaway cluster comes from the shared ``postgres_url`` fixture
(tests/postgres.py): no shared server is assumed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from core.store.engine import create_db_engine, init_db, session_scope
from core.store.progress import (
    MetricPoint,
    NewPoint,
    add_metric_points,
    claim_jobs,
    ensure_poll_states,
)
from tests.core.conftest import add_job

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_db_engine(postgres_url)
    init_db(engine)
    yield engine
    engine.dispose()


def test_concurrent_claims_split_jobs_without_overlap(pg_engine: Engine) -> None:
    jobs = [add_job(pg_engine) for _ in range(40)]
    with session_scope(pg_engine) as session:
        assert ensure_poll_states(session) == 40
    now = datetime.now(UTC)
    barrier = threading.Barrier(2)
    claimed: dict[str, list[int]] = {}

    def replica(owner: str) -> None:
        with session_scope(pg_engine) as session:
            barrier.wait()
            claimed[owner] = claim_jobs(
                session, owner=owner, now=now, lease=timedelta(minutes=2), limit=25
            )

    threads = [threading.Thread(target=replica, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert set(claimed["a"]).isdisjoint(claimed["b"])
    assert sorted(claimed["a"] + claimed["b"]) == sorted(j.id for j in jobs)  # 25 + 15
    with session_scope(pg_engine) as session:  # leases hold: nothing left for a third replica
        assert claim_jobs(session, owner="c", now=now, lease=timedelta(minutes=2)) == []
    with session_scope(pg_engine) as session:  # ...until they run out
        later = now + timedelta(minutes=3)
        assert len(claim_jobs(session, owner="c", now=later, lease=timedelta(minutes=2))) == 40


def test_duplicate_metric_points_are_ignored_on_postgres(pg_engine: Engine) -> None:
    job = add_job(pg_engine)
    point = NewPoint(
        step=1,
        total_steps=2,
        epoch=None,
        train_loss=1.0,
        valid_loss=None,
        tokens_per_second=None,
        reported_at=datetime.now(UTC),
    )
    for _ in range(2):
        with session_scope(pg_engine) as session:
            add_metric_points(session, job_id=job.id, points=[point])  # type: ignore[arg-type]
    with session_scope(pg_engine) as session:
        assert len(session.exec(select(MetricPoint)).all()) == 1
