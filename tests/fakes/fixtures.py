"""pytest fixtures for the fakes; ``tests/conftest.py`` registers this module as a plugin.

Each fixture starts a fresh server per test (about 0.1-0.3 s) so no state
leaks between tests, and stops it afterwards even when the test fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.slack_api import FakeSlack

__all__ = ["fake_openai", "fake_slack"]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started FakeSlack with channel ``C0TUNEBOT`` (#fine-tuning) and users U0ALICE, U0BOB."""
    with FakeSlack() as slack:
        slack.add_channel("C0TUNEBOT", name="fine-tuning")
        slack.add_user("U0ALICE", name="alice")
        slack.add_user("U0BOB", name="bob")
        yield slack


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started FakeOpenAI; jobs advance one stage per retrieve (see FakeOpenAI for options)."""
    with FakeOpenAI() as openai_api:
        yield openai_api
