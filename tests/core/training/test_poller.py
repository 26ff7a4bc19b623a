"""The poller's bounds: a slow provider gets only its share of the pool; a timing-out
provider is probed with one job, not hammered with all of them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openai.types.fine_tuning import FineTuningJob
from sqlalchemy.engine import Engine

from core.errors import ProviderTimeout
from core.store.engine import session_scope
from core.store.progress import JobPollState, ensure_poll_states
from core.training.poller import Poller
from tests.core.conftest import add_job


class ScriptedProvider:
    """An in-process provider that answers after ``delay`` or times out, counting calls.

    It is its own job reader: the poller runs it on its event loop.
    """

    def __init__(self, name: str, *, delay: float = 0.0, down: bool = False) -> None:
        self.name = name
        self.delay = delay
        self.down = down
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.spans: list[tuple[float, float]] = []
        self.closed = False

    def job_reader(self) -> ScriptedProvider:
        return self

    async def aclose(self) -> None:
        self.closed = True

    async def retrieve_job(self, job_id: str) -> FineTuningJob:
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        started = time.monotonic()
        try:
            await asyncio.sleep(self.delay)
            if self.down:
                raise ProviderTimeout("no answer", provider=self.name)
            return FineTuningJob.model_validate(
                {
                    "id": job_id,
                    "created_at": 1,
                    "hyperparameters": {"n_epochs": 1},
                    "model": "m",
                    "object": "fine_tuning.job",
                    "organization_id": "org",
                    "result_files": [],
                    "seed": 1,
                    "status": "running",
                    "training_file": "f",
                }
            )
        finally:
            self.in_flight -= 1
            self.spans.append((started, time.monotonic()))

    async def new_events(self, job_id: str, *, after_event_id: str | None) -> list[Any]:
        return []


@pytest.fixture
def poller(engine: Engine) -> Iterator[Callable[..., Poller]]:
    """Makes pollers on ``engine``; each one's loop thread is stopped after the test."""
    made: list[Poller] = []

    def make(**providers: ScriptedProvider) -> Poller:
        made.append(Poller(engine=engine, providers=providers, poll_seconds=30, concurrency=4))
        return made[-1]

    yield make
    for each in made:
        each.close()


def claimed(engine: Engine, provider: str, n: int) -> list[int]:
    ids = [add_job(engine, provider=provider).id for _ in range(n)]
    with session_scope(engine) as session:
        ensure_poll_states(session)
    return [i for i in ids if i is not None]


def test_a_slow_provider_gets_its_share_and_the_other_is_not_held_up(
    engine: Engine, poller: Callable[..., Poller]
) -> None:
    slow, fast = ScriptedProvider("openai", delay=0.5), ScriptedProvider("worker")
    ids = claimed(engine, "openai", 6) + claimed(engine, "worker", 6)
    report = poller(openai=slow, worker=fast).poll(ids, deadline_seconds=10)
    assert report.polled == 12 and report.failed == 0
    # the slow provider held 2 of the 4 threads; the fast one was done before it answered once
    assert max(end for _, end in fast.spans) < min(end for _, end in slow.spans)
    assert slow.most_in_flight == 4  # ...and then it had the whole pool
    with session_scope(engine) as session:
        statuses = {session.get(JobPollState, i).provider_status for i in ids}  # type: ignore[union-attr]
    assert statuses == {"running"}


def test_a_timing_out_provider_is_probed_with_one_job_then_left_alone(
    engine: Engine, poller: Callable[..., Poller]
) -> None:
    down = ScriptedProvider("openai", down=True)
    ids = claimed(engine, "openai", 10)
    worker = poller(openai=down)
    first = worker.poll(ids, deadline_seconds=5)
    # the polls already in flight (the pool's 4 threads) time out; the other 6 wait
    assert (first.failed, first.deferred) == (4, 6) and down.calls == 4
    again = worker.poll(ids, deadline_seconds=5)  # within the backoff: nobody is polled
    assert down.calls == 4 and again.polled == again.failed == 0
    with session_scope(engine) as session:
        failed = [session.get(JobPollState, i) for i in ids]
    assert sum(1 for s in failed if s and s.failures == 1) == 4
    worker._gates["openai"].open_until = 0.0  # the backoff has run out: one probe first
    down.down, down.delay, down.spans = False, 0.05, []
    third = worker.poll(ids, deadline_seconds=5)
    assert third.polled == 6 and down.calls == 10  # the 4 failed jobs wait for their backoff
    probe, *rest = sorted(down.spans)
    assert all(start >= probe[1] for start, _ in rest)  # the rest only after the probe answered


def test_a_poll_past_the_deadline_stores_its_own_answer_later(
    engine: Engine, poller: Callable[..., Poller]
) -> None:
    slow = ScriptedProvider("openai", delay=0.5)
    ids = claimed(engine, "openai", 2)
    worker = poller(openai=slow)
    first = worker.poll(ids, deadline_seconds=0.1)
    assert (first.polled, first.deferred) == (0, 2)
    worker.poll(ids, deadline_seconds=0.1)  # still in flight: not asked twice
    assert slow.calls == 2

    def statuses() -> set[str | None]:
        with session_scope(engine) as session:
            return {session.get(JobPollState, i).provider_status for i in ids}  # type: ignore[union-attr]

    until = time.monotonic() + 5
    while statuses() != {"running"} and time.monotonic() < until:
        time.sleep(0.05)
    assert statuses() == {"running"}
    worker.close()
    assert slow.closed  # the reader's connections closed with the loop
    worker.close()  # twice is harmless (shutdown after a failed start)
