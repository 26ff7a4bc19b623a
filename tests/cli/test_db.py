"""``tunebot db``, ``tunebot worker --upgrade-db`` and ``tunebot serve``'s schema check,
run as a person runs them: the real command in a subprocess, settings in the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.store.engine import create_db_engine, init_db
from core.store.schema import DATABASE, SchemaState
from worker.store import WORKER_SCHEMA, store_engine

ROOT = Path(__file__).resolve().parents[2]


def _tunebot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TUNEBOT_"))}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_refuses_an_old_database_until_db_upgrade_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    engine = create_db_engine(url)
    init_db(engine)  # tables as an install before migrations made them
    serve_env = {
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": "xoxb-not-used",
        "SLACK_SIGNING_SECRET": "not-used",
        "SLACK_API_BASE_URL": "http://127.0.0.1:9/api/",  # never reached: refused before
    }
    refused = _tunebot("serve", "--port", "9", **serve_env)
    assert refused.returncode == 2
    assert "out of date" in refused.stderr and "`tunebot db upgrade`" in refused.stderr

    behind = _tunebot("db", "current", DATABASE_URL=url)
    assert behind.returncode == 1 and "unversioned" in behind.stdout

    upgraded = _tunebot("db", "upgrade", DATABASE_URL=url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"-> {DATABASE.head()}" in upgraded.stdout
    assert DATABASE.state(engine) is SchemaState.CURRENT

    again = _tunebot("db", "upgrade", DATABASE_URL=url)
    assert "is current" in again.stdout
    assert _tunebot("db", "current", DATABASE_URL=url).returncode == 0


def test_db_upgrade_says_why_it_cannot_reach_the_database() -> None:
    # loopback port 1: nothing listens there
    result = _tunebot("db", "upgrade", DATABASE_URL="postgresql://tunebot@127.0.0.1:1/tunebot")
    assert result.returncode == 2
    assert "cannot use the database at DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.postgres
def test_db_upgrade_from_three_replicas_at_once_on_postgres(postgres_url: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TUNEBOT_"))}
    command = [sys.executable, "-m", "cli.main", "db", "upgrade"]
    env = {**clean, "DATABASE_URL": postgres_url}
    replicas = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [replica.communicate(timeout=120)[0] for replica in replicas]
    assert [replica.returncode for replica in replicas] == [0, 0, 0]
    assert sum("upgraded: empty ->" in output for output in outputs) == 1, outputs
    engine = create_db_engine(postgres_url)
    assert DATABASE.state(engine) is SchemaState.CURRENT
    engine.dispose()


def test_worker_upgrade_db_adopts_a_store_made_before_migrations(tmp_path: Path) -> None:
    engine = store_engine(tmp_path)
    WORKER_SCHEMA.upgrade(engine)
    with engine.begin() as connection:  # as a worker before migrations left it
        connection.exec_driver_sql("DROP TABLE alembic_version")
    from worker.tiny_model import write_tiny_model

    # A real model: the worker checks its models before its store.
    model = write_tiny_model(tmp_path / "tiny")
    refused = _tunebot(
        "worker", "--insecure-no-auth", "--data-dir", str(tmp_path), "--model", f"tiny={model}"
    )
    assert refused.returncode == 2 and "`tunebot worker --upgrade-db`" in refused.stderr
    result = _tunebot("worker", "--upgrade-db", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert WORKER_SCHEMA.state(engine) is SchemaState.CURRENT


def test_version() -> None:
    result = _tunebot("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("tunebot ") and result.stdout.split()[1][0].isdigit()
