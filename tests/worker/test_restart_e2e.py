"""A worker killed mid-run resumes the job from its last checkpoint on restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import ValidationSettings
from core.validation import validate_file
from tests.worker.harness import (
    FAST_HYPERPARAMETERS,
    WorkerProcess,
    all_events,
    wait_final,
    wait_for,
    write_chat_jsonl,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_dirs(tmp_path: Path, tiny_model_dir: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for process in started:
        process.stop()


def test_killed_worker_resumes_job_after_restart(
    tmp_path: Path, tiny_model_dir: Path, worker_dirs: list[WorkerProcess]
) -> None:
    first = WorkerProcess(tmp_path / "data", tiny_model_dir, tmp_path / "worker.log").start()
    worker_dirs.append(first)
    client = first.client()
    uploaded = client.files.create(
        file=write_chat_jsonl(tmp_path / "train.jsonl"), purpose="fine-tune"
    )
    hyper = {**FAST_HYPERPARAMETERS, "n_epochs": 50, "max_steps": 100, "checkpoint_steps": 10}
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=uploaded.id,
        method={"type": "supervised", "supervised": {"hyperparameters": hyper}},
    )
    wait_for(lambda: client.fine_tuning.jobs.checkpoints.list(job.id).data, what="a checkpoint")
    trainer_pid = first.kill_with_trainer(job.id)
    assert trainer_pid is not None

    second = WorkerProcess(first.data_dir, tiny_model_dir, tmp_path / "worker2.log").start()
    worker_dirs.append(second)
    client = second.client()
    done = wait_final(client, job.id)
    assert done.status == "succeeded", done.error

    messages = [e.message for e in all_events(client, job.id)]
    resumed = [m for m in messages if m.startswith("The worker restarted; resuming training from")]
    assert resumed, messages
    saved = int(resumed[0].rsplit(" ", 1)[-1])
    assert saved >= 10 and saved % 10 == 0
    assert f"Training started (resumed at step {saved}): 100 steps." in messages
    events = all_events(client, job.id)
    steps = sorted({e.data["step"] for e in events if e.type == "metrics"})
    assert steps == list(range(1, 101))
    # 100 steps of 2 batches per epoch are 50 epochs; the steps redone after the
    # crash are not counted twice.
    report = validate_file(
        tmp_path / "train.jsonl", model=str(tiny_model_dir), settings=ValidationSettings()
    )
    assert done.trained_tokens == report.billed_tokens_per_epoch * 50
    assert client.chat.completions.create(
        model=done.fine_tuned_model, messages=[{"role": "user", "content": "hi"}], max_tokens=4
    ).choices
