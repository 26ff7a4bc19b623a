"""The workspace's ``chat.update`` budget in SQL, shared by every replica.

Slack limits ``chat.update`` per workspace (Tier 3, about 50 a minute), not
per process: two replicas counting on their own would spend twice the budget.
So every edit a replica may send is first recorded here, and a grant is
decided under one lock per workspace:

* ``edit_budget``: one row per workspace, the lock (every grant starts by
  updating it, which serialises grants on PostgreSQL's row lock and on
  SQLite's write lock alike) and the pause after a 429 (``paused_until``);
* ``edit_spend``: one row per granted edit; those of the last minute are the
  sliding window, older ones are deleted as grants go.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from core.store.datasets import utcnow
from core.store.engine import session_scope

WINDOW = timedelta(seconds=60)


class EditBudgetRow(SQLModel, table=True):
    """A workspace's grant lock and the pause a 429 set."""

    __tablename__ = "edit_budget"

    workspace: str = Field(primary_key=True, max_length=32)
    paused_until: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class EditSpend(SQLModel, table=True):
    """One ``chat.update`` granted to some replica."""

    __tablename__ = "edit_spend"

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(max_length=32, index=True)
    spent_at: datetime = Field(index=True)


def _lock(session: Session, workspace: str, now: datetime) -> EditBudgetRow:
    """Take the workspace's row lock, creating the row the first time.

    The insert ignores a row another replica made first; the update then
    waits for whoever holds the lock and holds it until this transaction ends.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(EditBudgetRow)
        .values(workspace=workspace, updated_at=now)
        .on_conflict_do_nothing(index_elements=["workspace"])
    )
    session.execute(
        update(EditBudgetRow)
        .where(col(EditBudgetRow.workspace) == workspace)
        .values(updated_at=now)
    )
    row = session.get(EditBudgetRow, workspace, populate_existing=True)
    assert row is not None
    return row


def _spent(session: Session, workspace: str, now: datetime) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(EditSpend)
            .where(col(EditSpend.workspace) == workspace, col(EditSpend.spent_at) > now - WINDOW)
        ).one()
    )


def grant_edits(
    engine: Engine, *, workspace: str, wanted: int, per_minute: int, now: datetime | None = None
) -> int:
    """Record and return up to ``wanted`` edits that fit in the last minute's budget.

    Returns 0 while a 429's pause lasts. Safe across processes: grants of one
    workspace are serialised by its row.
    """
    if wanted <= 0:
        return 0
    now = now or utcnow()
    with session_scope(engine) as session:
        row = _lock(session, workspace, now)
        if row.paused_until is not None and row.paused_until > now:
            return 0
        session.execute(
            delete(EditSpend).where(
                col(EditSpend.workspace) == workspace, col(EditSpend.spent_at) <= now - WINDOW
            )
        )
        granted = max(0, min(wanted, per_minute - _spent(session, workspace, now)))
        session.add_all(EditSpend(workspace=workspace, spent_at=now) for _ in range(granted))
        return granted


def edits_left(
    engine: Engine, *, workspace: str, per_minute: int, now: datetime | None = None
) -> int:
    """How many edits the budget would grant now (a hint: another replica may take them)."""
    now = now or utcnow()
    with session_scope(engine) as session:
        row = session.get(EditBudgetRow, workspace)
        if row is not None and row.paused_until is not None and row.paused_until > now:
            return 0
        return max(0, per_minute - _spent(session, workspace, now))


def pause_edits(
    engine: Engine, *, workspace: str, seconds: float, now: datetime | None = None
) -> None:
    """Stop every replica's edits for ``seconds`` (Slack's ``Retry-After``)."""
    now = now or utcnow()
    until = now + timedelta(seconds=seconds)
    with session_scope(engine) as session:
        row = _lock(session, workspace, now)
        if row.paused_until is None or row.paused_until < until:
            row.paused_until = until
            session.add(row)
