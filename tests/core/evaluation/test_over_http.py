"""The evaluation code through the real provider (openai SDK) against FakeOpenAI on loopback."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from core.config import Settings
from core.evaluation import sessions
from core.evaluation.arms import Arm, Generation
from core.evaluation.examples import Example
from core.evaluation.heldout import run_heldout
from core.providers import Provider, build_providers
from tests.fakes.openai_api import FakeOpenAI

FT = "ft:gpt-4o-mini-2024-07-18:org-tunebot::abc123"
BASE = "gpt-4o-mini"
DELAY = 1.0


@pytest.fixture
def openai_provider(fake_openai: FakeOpenAI) -> Provider:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        OPENAI_API_KEY=fake_openai.api_key,
        OPENAI_BASE_URL=fake_openai.base_url,
        TUNEBOT_PROVIDER_MAX_RETRIES=0,
        TUNEBOT_PROVIDER_TIMEOUT=10.0,
    )
    return build_providers(settings)["openai"]


def _echo(prefix: str):  # type: ignore[no-untyped-def]
    return lambda messages, body: f"{prefix} says: {messages[-1]['content']}"


def _session(engine: Engine) -> Any:
    session, _ = sessions.create_session(
        engine,
        request_id="http",
        channel_id="C",
        created_by="U",
        candidate=Arm("candidate", "openai", FT),
        baseline=Arm("baseline", "openai", BASE),
        generation=Generation(temperature=0.3, max_tokens=100, seed=42),
    )
    return session


def test_pair_takes_the_slower_models_time_not_the_sum(
    engine: Engine, fake_openai: FakeOpenAI, openai_provider: Provider
) -> None:
    fake_openai.set_responder(FT, _echo("ft"), delay=DELAY)
    fake_openai.set_responder(BASE, _echo("base"), delay=DELAY)
    session = _session(engine)
    prompt = sessions.record_prompt(engine, session, slack_ts="1.0", author_id="U", text="hello")
    started = time.monotonic()
    pair = sessions.generate(engine, session, prompt, providers={"openai": openai_provider})
    elapsed = time.monotonic() - started
    assert pair.counted
    # One after the other can never finish under the sum; the margin above the
    # max absorbs a loaded 2-core CI machine (0.6 s of overhead has been seen).
    assert DELAY <= elapsed < 2 * DELAY, f"pair took {elapsed:.2f}s; sum would be {2 * DELAY}s"
    calls = fake_openai.requests("chat.completions")
    assert len(calls) == 2
    # Both requests were in flight at the same time on the server.
    assert max(c.start for c in calls) < min(c.end for c in calls)
    texts = {pair.response_a.text, pair.response_b.text}
    assert texts == {"ft says: hello", "base says: hello"}


def test_one_model_rejected_by_the_provider(
    engine: Engine, fake_openai: FakeOpenAI, openai_provider: Provider
) -> None:
    fake_openai.set_responder(BASE, _echo("base"))
    session = _session(engine)  # FT is unknown to the server: 404 model_not_found
    prompt = sessions.record_prompt(engine, session, slack_ts="2.0", author_id="U", text="hi")
    pair = sessions.generate(engine, session, prompt, providers={"openai": openai_provider})
    assert not pair.counted
    by_arm = {r.arm: r for r in (pair.response_a, pair.response_b)}
    assert by_arm["candidate"].error and by_arm["candidate"].text is None
    assert by_arm["baseline"].text == "base says: hi"


def test_heldout_with_slot_biased_judge_over_http(
    fake_openai: FakeOpenAI, openai_provider: Provider
) -> None:
    fake_openai.set_responder(FT, lambda m, b: "Paris")
    fake_openai.set_responder(BASE, lambda m, b: "I think it is Lyon")
    fake_openai.set_responder("gpt-4o", lambda m, b: "Response A is better.\nVerdict: A")
    examples = [
        Example([{"role": "user", "content": f"Capital of France? ({i})"}], "Paris")
        for i in range(6)
    ]
    result = run_heldout(
        examples,
        candidate=Arm("candidate", "openai", FT),
        baseline=Arm("baseline", "openai", BASE),
        providers={"openai": openai_provider},
        generation=Generation(temperature=0.0, max_tokens=50),
        judge=Arm("judge", "openai", "gpt-4o"),
        concurrency=3,
    )
    assert result.candidate.exact_match == 1.0 and result.baseline.exact_match == 0.0
    assert result.reference.tally.wins == 6
    assert result.judge is not None
    assert result.judge.position_a_rate == 1.0 and result.judge.tally.ties == 6
    assert len(fake_openai.requests("chat.completions")) == 6 * 2 + 6 * 2
