"""Two replicas claiming jobs at once on a real PostgreSQL: each job goes to one of them.

The test starts its own throwaway cluster (initdb + pg_ctl, unix socket in a
temp dir, no TCP), as the style guide asks: no shared server is assumed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
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

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PORT = 5499  # only a unix socket in a private directory: no clash with other servers
pytestmark = pytest.mark.postgres


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root; the CI container runs tests as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def pg_socket() -> Iterator[Path]:
    """One throwaway cluster for the module; each test gets its own database."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL 15 binaries not found in {PG_BIN}; install postgresql-15")
    base = Path(tempfile.mkdtemp(prefix="tunebot-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, user="postgres")
    data = base / "data"
    subprocess.run(
        _as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "tunebot",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-k {base} -c listen_addresses='' -c fsync=off -p {PORT}"
    subprocess.run(
        _as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-w",
                "-l",
                str(base / "log"),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield base
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_engine(pg_socket: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    name = f"t_{request.node.name[:40].lower()}"
    admin = create_db_engine(f"postgresql://tunebot@/postgres?host={pg_socket}&port={PORT}")
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_db_engine(f"postgresql://tunebot@/{name}?host={pg_socket}&port={PORT}")
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
