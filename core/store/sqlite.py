"""One SQLite setup for every tunebot database (the bot's and the worker's).

Several threads share one SQLite file in both processes: WAL lets readers
(the scheduler, request handlers) read while a writer writes, and the busy
timeout turns brief lock contention into a wait instead of an error. Foreign
keys are off in SQLite unless asked for, on every connection.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

BUSY_TIMEOUT_MS = 10_000
# sqlite3's own wait for a lock before "database is locked", in seconds.
CONNECT_TIMEOUT_S = 30


def sqlite_engine(url: str) -> Engine:
    """An engine for a ``sqlite:///path`` URL, shared across threads, pragmas set."""
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": CONNECT_TIMEOUT_S}
    )
    event.listen(engine, "connect", _pragmas)
    return engine


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
