"""The shared ``chat.update`` budget: grants from many engines (as from many replicas) at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from core.store.datasets import utcnow
from core.store.edit_budget import edits_left, grant_edits, pause_edits
from core.store.engine import create_db_engine, init_db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'budget.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _engines(url: str, count: int) -> list[Engine]:
    engines = [create_db_engine(url) for _ in range(count)]
    init_db(engines[0])
    return engines


def test_replicas_racing_for_edits_never_exceed_the_budget(url: str) -> None:
    engines = _engines(url, 4)  # four "replicas", each its own pool of connections
    now = utcnow()

    def grab(engine: Engine) -> int:
        return sum(
            grant_edits(engine, workspace="T1", wanted=3, per_minute=40, now=now) for _ in range(10)
        )

    with ThreadPoolExecutor(8) as pool:
        granted = sum(pool.map(grab, engines * 2))
    assert granted == 40  # 240 asked for; exactly the budget granted, none lost
    assert edits_left(engines[0], workspace="T1", per_minute=40, now=now) == 0
    # The window slides: a minute later the budget is whole again; other workspaces never shared it.
    later = now + timedelta(seconds=60)
    assert grant_edits(engines[1], workspace="T1", wanted=50, per_minute=40, now=later) == 40
    assert grant_edits(engines[1], workspace="T2", wanted=5, per_minute=40, now=now) == 5
    for engine in engines:
        engine.dispose()


def test_a_429_pauses_every_replica(url: str) -> None:
    first, second = _engines(url, 2)
    now = utcnow()
    pause_edits(first, workspace="T1", seconds=30, now=now)
    pause_edits(second, workspace="T1", seconds=5, now=now)  # a shorter pause never shortens it
    assert grant_edits(second, workspace="T1", wanted=1, per_minute=40, now=now) == 0
    assert edits_left(second, workspace="T1", per_minute=40, now=now + timedelta(seconds=29)) == 0
    after = now + timedelta(seconds=31)
    assert grant_edits(second, workspace="T1", wanted=1, per_minute=40, now=after) == 1
    first.dispose()
    second.dispose()
