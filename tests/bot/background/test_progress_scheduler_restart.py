"""Exactly-once thread replies across crashes: a killed process and a crash between phases."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import select

import bot.background.poster
from core.store.engine import session_scope
from core.store.jobs import TrainingJob
from core.store.progress import INTENT, POSTED, JobMessage, JobPollState
from tests.core.training.harness import CHANNEL, Rig

ROOT = Path(__file__).resolve().parents[3]


class Crash(BaseException):
    """The process dying at a chosen line (BaseException: nothing catches it)."""


def finalized(rig: Rig, job: TrainingJob) -> bool:
    with session_scope(rig.engine) as session:
        state = session.get(JobPollState, job.id)
    return bool(state and state.finalized)


def messages(rig: Rig, job: TrainingJob) -> dict[str, JobMessage]:
    with session_scope(rig.engine) as session:
        rows = session.exec(select(JobMessage).where(JobMessage.job_id == job.id)).all()
    return {m.key: m for m in rows}


@pytest.mark.parametrize("key", ["started", "plot", "result"])
def test_crash_after_posting_before_recording_is_not_posted_again(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    job = rig.start_job(total_steps=4, n_epochs=1, steps_per_tick=4)
    real = bot.background.poster.record_posted

    def die_after_slack_answered(session: object, *, job_id: int, key: str, ts: str | None) -> None:
        if key == crash_key:
            raise Crash
        real(session, job_id=job_id, key=key, ts=ts)  # type: ignore[arg-type]

    crash_key = key
    monkeypatch.setattr(bot.background.poster, "record_posted", die_after_slack_answered)
    first = rig.scheduler()
    with pytest.raises(Crash):
        for _ in range(10):
            first.tick()
    assert messages(rig, job)[key].state == INTENT  # phase one committed, phase two lost
    posted_before = rig.reply_keys(job)
    assert posted_before.count(key) == 1  # ...but Slack has the reply
    monkeypatch.setattr(bot.background.poster, "record_posted", real)

    restarted = rig.scheduler()  # a new process: nothing in memory
    for _ in range(10):
        restarted.tick()
    assert finalized(rig, job)
    assert rig.reply_keys(job) == ["started", "plot", "result"]
    record = messages(rig, job)[key]
    assert record.state == POSTED and record.ts  # reconciled from the thread


def test_crash_after_recording_intent_before_posting_posts_once(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = rig.start_job(total_steps=4, n_epochs=2, steps_per_tick=2)
    real = rig.client.chat_postMessage

    def die_before_slack(**kwargs: object) -> object:
        payload = (kwargs.get("metadata") or {}).get("event_payload", {})  # type: ignore[union-attr]
        if payload.get("key") == "result":
            raise Crash
        return real(**kwargs)

    monkeypatch.setattr(rig.client, "chat_postMessage", die_before_slack)
    with pytest.raises(Crash):
        for _ in range(10):
            rig.scheduler().tick()
    assert messages(rig, job)["result"].state == INTENT
    assert "result" not in rig.reply_keys(job)
    monkeypatch.setattr(rig.client, "chat_postMessage", real)
    for _ in range(10):
        rig.scheduler().tick()
    assert rig.reply_keys(job) == ["started", "plot", "result"]


def _spawn(rig: Rig, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **rig.env(TUNEBOT_POLL_SECONDS="0.05")}
    # The child keeps its own copy of the log's descriptor; ours is closed at once.
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "cli.main", "poll"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _wait_for_replies(rig: Rig, jobs: list[TrainingJob], *, more_than: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(len(rig.reply_keys(j)) for j in jobs) > more_than:
            return
        time.sleep(0.02)


def test_sigkill_mid_job_and_restart_loses_and_doubles_nothing(rig: Rig) -> None:
    """``tunebot poll`` is SIGKILLed while two jobs train, then started again."""
    jobs = [rig.start_job(total_steps=40, n_epochs=4, steps_per_tick=1) for _ in range(2)]
    log = rig.tmp / "scheduler.log"
    process = _spawn(rig, log)
    try:
        # Both "started" replies are in; epochs fold into the progress message, so
        # the next replies would be the results: kill well before those.
        _wait_for_replies(rig, jobs, more_than=1, timeout=30)
        time.sleep(random.Random(5).uniform(0.0, 0.3))  # land the kill anywhere in a tick
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert not all(finalized(rig, j) for j in jobs)  # killed mid-job
    process = _spawn(rig, log)
    try:
        deadline = time.monotonic() + 60
        while not all(finalized(rig, j) for j in jobs):
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
    finally:
        process.terminate()  # SIGTERM: a clean stop
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()[-3000:]
    expected = ["started", "plot", "result"]
    for job in jobs:
        assert rig.reply_keys(job) == expected
        assert "Succeeded" in rig.slack.message(CHANNEL, str(job.progress_ts))["text"]
    assert len(rig.slack.uploads()) == 2
