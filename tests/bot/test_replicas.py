"""Two real ``tunebot serve`` processes on one PostgreSQL, each in its own working dir.

What a platform team running N replicas behind a load balancer relies on:

* a file dropped on one replica and **Start** clicked on another starts the
  job: the validated file is in shared storage (here s3:// on a moto server),
  not on the first replica's disk;
* every active job is polled and each milestone posted once, however the two
  replicas split the jobs between them;
* ``chat.update`` calls of both together stay within the workspace budget.

Slack and OpenAI are the project's fakes (real HTTP servers on loopback); the
processes are configured only through environment variables.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import s3fs
from sqlmodel import select

from bot.fakeslack.api import FakeSlack
from bot.fakeslack.events import SlackEventSender, event_callback, message_event
from bot.fakeslack.payloads import modal_state_values
from core.store.engine import session_scope
from core.store.progress import JobPollState
from core.store.schema import require_current_database
from tests.bot.flows.test_drop import chat_jsonl, wait_report, wait_text
from tests.bot.harness import ALICE, BOB, CHANNEL, SIGNING_SECRET
from tests.core.training.harness import Rig
from tests.fakes.openai_api import FakeOpenAI
from tests.s3 import S3_BUCKET

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 180.0  # two processes importing slack_bolt, openai, alembic on a busy CI box


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    """One ``tunebot serve`` process, and a signed sender pointed at it."""

    name: str
    process: subprocess.Popen[bytes]
    sender: SlackEventSender
    slack: FakeSlack
    log: Path
    url: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def drop_file(self, name: str, content: bytes, *, user: str) -> dict[str, Any]:
        """Share a file in the channel; its ``file_share`` event goes to this replica."""
        info = self.slack.add_file(name, content, user=user, channel=CHANNEL)
        channel_id, message = self.slack.file_message(info["id"])
        response = self.sender.send_envelope(event_callback(message_event(channel_id, message)))
        assert response.status_code == 200, response.text
        return message

    def stop(self) -> int:
        self.sender.close()
        self.process.terminate()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)


def spawn_replica(name: str, base: Path, env: dict[str, str], slack: FakeSlack) -> Replica:
    """``tunebot serve`` in HTTP mode, in ``base/name`` (its working dir and data dir)."""
    workdir = base / name
    workdir.mkdir(parents=True)
    port = _free_port()
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TUNEBOT_", "OPENAI_", "AZURE_", "DATABASE_"))
    }
    values = {
        **inherited,
        **slack.env(),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "TUNEBOT_DATA_DIR": str(workdir / "data"),
        "TUNEBOT_REPLICA_ID": name,
        "PYTHONPATH": str(ROOT),
        **env,
    }
    log = workdir / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=values,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    sender = SlackEventSender(f"{url}/slack/events", signing_secret=SIGNING_SECRET, slack=slack)
    return Replica(name=name, process=process, sender=sender, slack=slack, log=log, url=url)


def wait_ready(replicas: list[Replica]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    for replica in replicas:
        while True:
            if replica.process.poll() is not None:
                pytest.fail(f"replica {replica.name} exited: {replica.output()[-3000:]}")
            try:
                if httpx.get(f"{replica.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"replica {replica.name} did not start: {replica.output()[-3000:]}")
            time.sleep(0.2)


def start_replicas(
    replicas: list[Replica], base: Path, env: dict[str, str], slack: FakeSlack
) -> list[Replica]:
    """Two replicas started together (as an orchestrator does), once both answer."""
    for name in ("replica-a", "replica-b"):
        replicas.append(spawn_replica(name, base, env, slack))
    wait_ready(replicas)
    return replicas


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[Replica]]:
    """Started replicas, stopped (and their logs checked for tracebacks) at the end."""
    started: list[Replica] = []
    yield started
    codes = {r.name: r.stop() for r in started}
    for replica in started:
        assert "Traceback" not in replica.output(), replica.output()[-4000:]
    # SIGTERM is how an orchestrator stops a replica: a clean exit or death by that signal.
    assert all(code in (0, -signal.SIGTERM) for code in codes.values()), codes


def test_a_file_dropped_on_one_replica_starts_from_the_other(
    tmp_path: Path,
    postgres_url: str,
    s3_env: dict[str, str],
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    replicas: list[Replica],
) -> None:
    env = {
        "DATABASE_URL": postgres_url,
        "TUNEBOT_STORAGE_URL": f"s3://{S3_BUCKET}/shared",
        "OPENAI_API_KEY": fake_openai.api_key,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "TUNEBOT_ADMINS": ALICE,
        **s3_env,
    }
    first, second = start_replicas(replicas, tmp_path, env, fake_slack)

    content = chat_jsonl(30)
    message = first.drop_file("faq.jsonl", content, user=BOB)
    report = wait_report(first, message["ts"])  # type: ignore[arg-type]  # duck-typed: .slack
    (actions,) = [b for b in report["blocks"] if b["type"] == "actions"]
    short_id = actions["elements"][-1]["value"]

    # Start is clicked on the other replica: the button, then the modal's submit.
    views_before = len(fake_slack.views())
    clicked = second.sender.action(
        "start_job:openai", user_id=ALICE, value=short_id, channel_id=CHANNEL, message=report
    )
    assert clicked.status_code == 200
    (view,) = fake_slack.wait_for(
        lambda: fake_slack.views()[views_before:], timeout=20, message="views.open"
    )
    submitted = second.sender.view_submission(
        "start_job_modal",
        modal_state_values(view, epochs="2"),
        user_id=ALICE,
        private_metadata=view["private_metadata"],
        view=view,
    )
    assert submitted.status_code == 200 and submitted.text == ""
    wait_text(second, message["ts"], "started on OpenAI")  # type: ignore[arg-type]

    (job,) = fake_openai.jobs()
    uploaded = fake_openai.file_content(job["training_file"])
    assert uploaded == content  # the validated file itself, read from the bucket
    bucket = s3fs.S3FileSystem(endpoint_url=s3_env["AWS_ENDPOINT_URL"])
    stored = bucket.find(f"{S3_BUCKET}/shared/datasets")
    assert len(stored) == 1 and bucket.cat_file(stored[0]) == content
    for replica in replicas:  # nothing of the dataset on either replica's disk
        data = replica.log.parent / "data"
        assert not [p for p in data.rglob("*") if p.is_file()] if data.exists() else True


def _edit_times(slack: FakeSlack) -> list[float]:
    return sorted(call.time for call in slack.calls("chat.update") if call.status == 200)


def test_100_jobs_polled_by_two_replicas_post_each_milestone_once_within_the_edit_budget(
    tmp_path: Path,
    postgres_url: str,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    replicas: list[Replica],
) -> None:
    require_current_database(postgres_url)  # as `tunebot db upgrade` does before a deploy
    rig = Rig(
        slack=fake_slack,
        openai=fake_openai,
        tmp=tmp_path,
        overrides={"DATABASE_URL": postgres_url},
    )
    try:
        _poll_100_jobs(rig, tmp_path, postgres_url, fake_slack, fake_openai, replicas)
    finally:
        rig.close()


def _poll_100_jobs(
    rig: Rig,
    tmp_path: Path,
    postgres_url: str,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    replicas: list[Replica],
) -> None:
    training = rig.providers["openai"].upload_file(rig.data)
    jobs = [
        rig.start_job(training_file=training, validation=False, total_steps=60, n_epochs=2)
        for _ in range(100)
    ]
    budget = 20
    env = {
        "DATABASE_URL": postgres_url,
        "OPENAI_API_KEY": fake_openai.api_key,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "TUNEBOT_POLL_SECONDS": "0.5",
        "TUNEBOT_MIN_EDIT_SECONDS": "0",
        "TUNEBOT_EDITS_PER_MINUTE": str(budget),
        "TUNEBOT_PROVIDER_MAX_RETRIES": "0",
    }
    started = time.time()
    start_replicas(replicas, tmp_path, env, fake_slack)

    # Whichever replica ticks first claims the jobs; mid-run it is stopped (a rolling
    # deploy), its claims are released and the other replica carries on, so both
    # poll, post and edit within the same minute and share one edit budget.
    owner = _wait_owner(rig, replicas)
    fake_slack.wait_for(lambda: _edit_times(fake_slack), timeout=120, message="a first edit")
    assert sum(rig.reply_keys(j)[-1:] == ["result"] for j in jobs) < len(jobs), "too late"
    owner.stop()
    stopped = time.time()
    survivor = next(r for r in replicas if r is not owner)

    # Epochs fold into the progress message (#14); these are the thread replies.
    expected = ["started", "plot", "result"]
    deadline = time.monotonic() + 300
    while True:
        done = sum(rig.reply_keys(j)[-1:] == ["result"] for j in jobs)
        if done == len(jobs):
            break
        assert survivor.process.poll() is None, survivor.output()[-3000:]
        assert time.monotonic() < deadline, f"{done}/{len(jobs)} jobs finished"
        time.sleep(0.5)
    finished = time.time()

    for job in jobs:
        assert rig.reply_keys(job) == expected, job.short_id  # each milestone exactly once
        assert fake_openai.requests("jobs.retrieve", job_id=job.provider_job_id)  # polled
    # Both took part: each polled the provider, and edits came before the stop
    # (only the owner held claims) and after it (only the survivor did).
    for replica in replicas:
        assert "/fine_tuning/jobs/" in replica.output(), f"{replica.name} polled nothing"
    assert any(t < stopped for t in _edit_times(fake_slack)), "the owner edited nothing"
    assert any(t > stopped for t in _edit_times(fake_slack)), "the survivor edited nothing"
    # Edits of both together: never more than the budget in any 60 s.
    edits = [t for t in _edit_times(fake_slack) if started <= t <= finished]
    worst = max(sum(1 for t in edits if start <= t < start + 60) for start in edits)
    assert worst <= budget, f"{worst} edits in one minute, budget {budget}"


def _wait_owner(rig: Rig, replicas: list[Replica]) -> Replica:
    """The replica holding the jobs' claims, once one does."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with session_scope(rig.engine) as session:
            owners = {s.claim_owner for s in session.exec(select(JobPollState))} - {None}
        if owners:
            return next(r for r in replicas if r.name in owners)
        time.sleep(0.2)
    pytest.fail("no replica claimed the jobs")
