"""A throwaway PostgreSQL 15 for the tests that need one (``tests/conftest.py`` registers it).

The style guide asks tests not to assume a shared server: the first test that
asks for ``postgres_url`` starts a private cluster (initdb + pg_ctl, a unix
socket in a temp dir, no TCP) for the whole run, and each test gets its own
empty database in it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core.store.engine import create_db_engine

__all__ = ["TEST_DATABASE_URL", "bot_database_url", "postgres_server", "postgres_url"]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PORT = 5499  # only names the socket file in a private directory: no clash with other servers


TEST_DATABASE_URL = "TUNEBOT_TEST_DATABASE_URL"
"""Set (by ``tests/bot/conftest.py`` under ``TUNEBOT_TEST_DATABASE=postgres``) to the
database a test's bot must use instead of its SQLite file."""


def bot_database_url(sqlite_path: Path) -> str:
    """The database URL a bot under test uses: the chosen PostgreSQL one, else SQLite."""
    return os.environ.get(TEST_DATABASE_URL) or f"sqlite:///{sqlite_path}"


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root; the CI container runs tests as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Path]:
    """The socket directory of a running private cluster (user ``tunebot``, trust auth)."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL 15 binaries not found in {PG_BIN}; install postgresql-15")
    base = Path(tempfile.mkdtemp(prefix="tunebot-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, user="postgres")
    data = base / "data"
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "tunebot", "--auth=trust"]
    subprocess.run(
        _as_postgres([*initdb, "--no-sync", "-E", "UTF8"]), check=True, capture_output=True
    )
    options = f"-k {base} -c listen_addresses='' -c fsync=off -p {PORT}"
    pg_ctl = str(PG_BIN / "pg_ctl")
    subprocess.run(
        _as_postgres(
            [pg_ctl, "-D", str(data), "-o", options, "-w", "-l", str(base / "log"), "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield base
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: Path, request: pytest.FixtureRequest) -> str:
    """The URL of a new, empty database named after the test.

    The node id's hash keeps parametrized tests (whose names share a prefix
    past PostgreSQL's 63-character limit) on databases of their own.
    """
    readable = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    name = f"t_{readable}_{hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]}"
    admin = create_db_engine(f"postgresql://tunebot@/postgres?host={postgres_server}&port={PORT}")
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql://tunebot@/{name}?host={postgres_server}&port={PORT}"
