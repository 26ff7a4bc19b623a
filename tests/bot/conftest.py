"""Fixtures for the bot's tests: a running bot on loopback against FakeSlack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.fakeslack.api import FakeSlack
from tests.bot.harness import RunningBot, make_settings, start_bot


@pytest.fixture
def bot(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[RunningBot]:
    """The bot in HTTP mode with no provider configured."""
    running = start_bot(make_settings(tmp_path, fake_slack), fake_slack)
    yield running
    running.stop()
