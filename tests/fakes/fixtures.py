"""pytest fixtures for the fakes; ``tests/conftest.py`` registers this module as a plugin.

Each fixture starts a fresh server per test (about 0.1-0.3 s) so no state
leaks between tests, and stops it afterwards even when the test fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bot.fakeslack.api import FakeSlack
from bot.fakeslack.events import SlackEventSender
from tests.fakes.openai_api import FakeOpenAI

__all__ = ["fake_openai", "fake_slack", "slack_sender"]


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


@pytest.fixture
def slack_sender(fake_slack: FakeSlack) -> Iterator[Callable[..., SlackEventSender]]:
    """Factory: ``slack_sender(url, signing_secret=...)`` -> SlackEventSender for ``fake_slack``.

    Its response_urls point at ``fake_slack``; senders are closed after the test.
    """
    senders: list[SlackEventSender] = []

    def make(url: str, *, signing_secret: str) -> SlackEventSender:
        sender = SlackEventSender(url, signing_secret=signing_secret, slack=fake_slack)
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()
