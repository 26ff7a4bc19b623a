"""Engine construction for SQLite (default, :mod:`core.store.sqlite`) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import MetaData, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from core.store.sqlite import sqlite_engine


def bot_tables() -> MetaData:
    """The bot database's tables (never the worker's, which share SQLModel's metadata).

    The table modules import this one (for :func:`session_scope`), so they are
    imported here, when the tables are asked for, rather than at the top.
    """
    from core.store import datasets, edit_budget, evaluation, jobs, progress
    from core.store.installations import add_installation_tables
    from core.store.schema import tables_of

    metadata = tables_of([datasets, edit_budget, evaluation, jobs, progress])
    add_installation_tables(metadata)
    return metadata


def create_db_engine(url: str) -> Engine:
    """Build an engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    Parameters:
        url: a SQLAlchemy database URL. ``postgresql://`` is read as psycopg 3.
    """
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        return sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def init_db(engine: Engine) -> None:
    """Create every table that does not exist yet: for tests and throwaway databases.

    A deployed database is migrated instead (``core.store.schema``, ``tunebot db
    upgrade``), which can also change tables that exist.
    """
    bot_tables().create_all(engine)


def database_ok(engine: Engine) -> bool:
    """Answer a trivial query (health checks); raises the driver's error when it cannot."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return True


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
