"""Fixtures for the bot's tests: a running bot on loopback against FakeSlack."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.fakeslack.api import FakeSlack
from tests.bot.harness import RunningBot, dispose_unit_engines, make_settings, start_bot
from tests.core.training.harness import Rig
from tests.fakes.openai_api import FakeOpenAI
from tests.postgres import TEST_DATABASE_URL


@pytest.fixture
def bot(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[RunningBot]:
    """The bot in HTTP mode with no provider configured."""
    running = start_bot(make_settings(tmp_path, fake_slack), fake_slack)
    yield running
    running.stop()


@pytest.fixture
def rig(tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI) -> Iterator[Rig]:
    """Fakes, database and clients for tests that drive jobs; its pollers closed after."""
    with Rig(slack=fake_slack, openai=fake_openai, tmp=tmp_path) as made:
        yield made


@pytest.fixture(autouse=True)
def bot_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The database every bot test uses: SQLite files, or with
    ``TUNEBOT_TEST_DATABASE=postgres`` a fresh database per test on the throwaway
    PostgreSQL (``tests/postgres.py``), so the whole bot suite runs on both."""
    choice = os.environ.get("TUNEBOT_TEST_DATABASE", "sqlite")
    if choice not in ("sqlite", "postgres"):
        pytest.fail(f"TUNEBOT_TEST_DATABASE={choice!r}: use sqlite (the default) or postgres")
    if choice == "postgres":
        monkeypatch.setenv(TEST_DATABASE_URL, str(request.getfixturevalue("postgres_url")))
    yield choice
    dispose_unit_engines()
