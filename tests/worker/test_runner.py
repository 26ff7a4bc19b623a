"""The runner's process handling with real (non-ML) processes and a real store."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.training.config import TrainingParams
from worker.job_spec import JobSpec
from worker.records import JobRecord
from worker.runner import JobRunner, _Running
from worker.settings import WorkerConfig
from worker.store import WorkerStore, now

STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"


@pytest.fixture
def runner(tmp_path: Path) -> JobRunner:
    config = WorkerConfig(
        data_dir=tmp_path, models={"tiny": "m"}, api_key=None, cancel_grace_seconds=0.5
    )
    config.jobs_dir.mkdir(parents=True)
    return JobRunner(WorkerStore(tmp_path), config)


def _job(runner: JobRunner, job_id: str, *, status: str = "running", **values: object) -> JobRecord:
    record = JobRecord(
        id=job_id, model="tiny", base_model="m", training_file="file-1", seed=0,
        status=status, params_json=json.dumps(TrainingParams().to_dict()), created_at=now(),
        **values,
    )  # fmt: skip
    (runner.config.jobs_dir / job_id).mkdir(parents=True, exist_ok=True)
    return runner.store.add(record)


def test_cancel_kills_a_trainer_that_ignores_sigterm(runner: JobRunner, tmp_path: Path) -> None:
    job = _job(runner, "ftjob-stubborn")
    process = subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True)
    spec = JobSpec(job_id=job.id, base_model="m", training_file=tmp_path / "t",
                   output_dir=runner.config.jobs_dir / job.id)  # fmt: skip
    handle = str(process.pid)
    runner.launcher._processes[handle] = process  # type: ignore[attr-defined]
    current = _Running(job.id, handle, spec, n_gpus=0, placed=True)
    runner._running[job.id] = current
    time.sleep(0.3)  # let it install its SIGTERM handler
    runner.cancel(job.id)
    deadline = time.monotonic() + 20
    while job.id in runner._running and time.monotonic() < deadline:
        runner._poll(current)
        time.sleep(0.1)
    assert process.returncode == -9  # SIGKILL after the grace period
    finished = runner.store.get(JobRecord, job.id)
    assert finished is not None and finished.status == "cancelled"


def test_recovery_resumes_a_job_its_own_shutdown_stopped(runner: JobRunner) -> None:
    stopped = _job(runner, "ftjob-stopped")
    (runner.config.jobs_dir / stopped.id / "result.json").write_text('{"status": "cancelled"}')
    cancelled = _job(runner, "ftjob-cancelled", cancel_requested=True)
    (runner.config.jobs_dir / cancelled.id / "result.json").write_text('{"status": "cancelled"}')
    done = _job(runner, "ftjob-done")
    (runner.config.jobs_dir / done.id / "result.json").write_text(
        '{"status": "succeeded", "trained_tokens": 12}'
    )
    for job in (stopped, cancelled, done):
        runner.store.update_job(job.id, launch_id="999999999")  # a pid long gone
    runner._recover()
    jobs = {j: runner.store.get(JobRecord, j) for j in (stopped.id, cancelled.id, done.id)}
    statuses = {j: record.status for j, record in jobs.items() if record}
    assert statuses == {stopped.id: "running", cancelled.id: "cancelled", done.id: "succeeded"}
    finished = jobs[done.id]
    assert finished is not None and finished.fine_tuned_model == "ft:tiny::done"


def test_a_job_that_keeps_dying_is_failed(runner: JobRunner) -> None:
    job = _job(runner, "ftjob-crashy", attempts=runner.config.max_attempts)
    runner._start_next()
    failed = runner.store.get(JobRecord, job.id)
    assert failed is not None and failed.status == "failed" and failed.error_code == "interrupted"
    assert not runner._running


def test_a_trainer_killed_on_its_last_attempt_fails_with_the_reason(
    runner: JobRunner, tmp_path: Path
) -> None:
    job = _job(runner, "ftjob-killed", attempts=runner.config.max_attempts)
    process = subprocess.Popen(
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
        start_new_session=True,
    )
    process.wait()
    handle = str(process.pid)
    runner.launcher._processes[handle] = process  # type: ignore[attr-defined]
    spec = JobSpec(job_id=job.id, base_model="m", training_file=tmp_path / "t",
                   output_dir=runner.config.jobs_dir / job.id)  # fmt: skip
    current = _Running(job.id, handle, spec, n_gpus=0, placed=True)
    runner._running[job.id] = current
    runner._poll(current)  # no result.json: a death, not an outcome
    still = runner.store.get(JobRecord, job.id)
    assert still is not None and still.status == "running" and not runner._running
    runner._start_next()  # no launches left
    failed = runner.store.get(JobRecord, job.id)
    assert failed is not None and failed.status == "failed" and failed.error_code == "interrupted"
    assert "last: killed by SIGKILL" in (failed.error_message or "")
