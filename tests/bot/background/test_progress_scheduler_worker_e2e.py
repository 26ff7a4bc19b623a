"""End to end with the real worker: a tiny model trains on CPU and the thread follows it.

The worker runs as ``tunebot worker`` in a subprocess with the tiny offline
model; the scheduler polls it through the same provider code as OpenAI and
posts to FakeSlack.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.fakeslack.api import FakeSlack
from core.store.engine import session_scope
from core.store.progress import JobPollState, MetricPoint
from tests.core.training.harness import CHANNEL, Rig
from tests.worker.harness import API_KEY, FAST_HYPERPARAMETERS, WorkerProcess, write_chat_jsonl

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    from worker.tiny_model import write_tiny_model

    model = write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    root = tmp_path_factory.mktemp("worker")
    process = WorkerProcess(root / "data", model, root / "worker.log").start()
    yield process
    process.stop()


def test_a_worker_job_is_followed_to_its_result(
    tmp_path: Path, fake_slack: FakeSlack, worker: WorkerProcess
) -> None:
    with Rig(
        slack=fake_slack,
        openai=None,
        tmp=tmp_path,
        overrides={
            "TUNEBOT_WORKER_URL": worker.base_url,
            "TUNEBOT_WORKER_API_KEY": API_KEY,
            "TUNEBOT_POLL_SECONDS": "0.5",
            "TUNEBOT_PROVIDER_TIMEOUT": "60",
        },
    ) as rig:
        write_chat_jsonl(rig.data)
        job = rig.start_job(
            provider_name="worker",
            model="tiny",
            hyperparameters={**FAST_HYPERPARAMETERS, "n_epochs": 3},
        )
        scheduler = rig.scheduler()
        deadline = time.monotonic() + 300
        while True:
            scheduler.tick()
            with session_scope(rig.engine) as session:
                state = session.get(JobPollState, job.id)
                if state is not None and state.finalized:
                    break
            assert time.monotonic() < deadline, (
                rig.reply_keys(job),
                worker.log_path.read_text()[-2000:],
            )
            time.sleep(0.5)

        assert rig.reply_keys(job) == ["started", "plot", "result"]
        assert "Epoch 3/3: train loss" in str(rig.progress_message(job)["blocks"])
        fine_tuned = worker.client().fine_tuning.jobs.retrieve(str(job.provider_job_id))
        assert fine_tuned.status == "succeeded" and fine_tuned.fine_tuned_model
        assert fine_tuned.fine_tuned_model in rig.replies(job)[-1]["text"]
        assert "Succeeded" in rig.progress_message(job)["text"]
        (upload,) = rig.slack.uploads(CHANNEL, job.thread_ts)
        assert upload["content"][:8] == b"\x89PNG\r\n\x1a\n"
        with session_scope(rig.engine) as session:
            points = session.exec(select(MetricPoint).where(MetricPoint.job_id == job.id)).all()
        assert points and all(p.train_loss is not None for p in points if p.valid_loss is None)
        assert any(p.tokens_per_second for p in points)  # the worker reports throughput
