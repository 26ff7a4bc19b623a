"""The ``ray`` launcher against a real Ray cluster started on loopback.

Each test runs the real ``tunebot worker --launcher ray`` process, drives it
with the ``openai`` SDK and checks the cluster through Ray's own Jobs API.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from tests.worker.harness import (
    FAST_HYPERPARAMETERS,
    WorkerProcess,
    all_events,
    metric_steps,
    wait_final,
    wait_for,
    write_chat_jsonl,
)
from tests.worker.ray_cluster import RayCluster, trainer_pids

pytest.importorskip("ray", reason="the [ray] extra is not installed")
pytestmark = pytest.mark.slow


@pytest.fixture
def ray_worker(
    tmp_path: Path, tiny_model_dir: Path, ray_cluster: RayCluster
) -> Iterator[WorkerProcess]:
    worker = _worker(tmp_path, tiny_model_dir, ray_cluster, "worker.log").start()
    yield worker
    worker.stop()


def _worker(root: Path, model: Path, cluster: RayCluster, log: str) -> WorkerProcess:
    args = ["--launcher", "ray", "--ray-address", cluster.address, "--log-level", "info"]
    return WorkerProcess(root / "data", model, root / log, args=args)


def _create(client: OpenAI, file_id: str, **overrides: object) -> str:
    hyper = {**FAST_HYPERPARAMETERS, **overrides}
    method = {"type": "supervised", "supervised": {"hyperparameters": hyper}}
    return client.fine_tuning.jobs.create(model="tiny", training_file=file_id, method=method).id  # type: ignore[arg-type]


def _upload(client: OpenAI, tmp_path: Path) -> str:
    path = write_chat_jsonl(tmp_path / "train.jsonl")
    return client.files.create(file=path, purpose="fine-tune").id


def _step_times(data_dir: Path, job_id: str) -> list[float]:
    lines = (data_dir / "jobs" / job_id / "progress.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return [r["time"] for r in records if r.get("kind") == "metrics"]


def test_two_jobs_overlap_and_a_third_waits_queued(
    ray_worker: WorkerProcess, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    client = ray_worker.client()
    file_id = _upload(client, tmp_path)
    first, second, third = (_create(client, file_id, max_steps=30) for _ in range(3))

    def two_running() -> bool:
        statuses = [client.fine_tuning.jobs.retrieve(j).status for j in (first, second)]
        return statuses == ["running", "running"]

    wait_for(two_running, timeout=240, what="both jobs placed on the 2-CPU cluster")
    assert client.fine_tuning.jobs.retrieve(third).status == "queued"
    assert ray_cluster.submissions(third) == []  # not submitted before it can be placed
    for job_id in (first, second, third):
        assert wait_final(client, job_id, timeout=600).status == "succeeded"

    times = {j: _step_times(ray_worker.data_dir, j) for j in (first, second, third)}
    # The two first jobs trained at the same time: each started before the other ended.
    assert max(times[first][0], times[second][0]) < min(times[first][-1], times[second][-1])
    # The third started only after one of them ended (queue order, one slot per CPU).
    assert times[third][0] > min(times[first][-1], times[second][-1])
    for job_id in (first, second, third):
        assert len(ray_cluster.submissions(job_id)) == 1


def test_cancel_stops_the_ray_job_after_a_checkpoint(
    ray_worker: WorkerProcess, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    from ray.job_submission import JobStatus

    client = ray_worker.client()
    job_id = _create(client, _upload(client, tmp_path), n_epochs=50, max_steps=400)
    wait_for(lambda: len(metric_steps(client, job_id)) >= 3, timeout=240, what="training")
    client.fine_tuning.jobs.cancel(job_id)
    job = wait_final(client, job_id)
    assert job.status == "cancelled" and job.fine_tuned_model is None
    [submission] = ray_cluster.submissions(job_id)
    assert ray_cluster.client().get_job_status(submission) == JobStatus.STOPPED
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job_id).data
    assert checkpoints and checkpoints[0].step_number == max(metric_steps(client, job_id)) < 400


def test_worker_killed_mid_job_reattaches_without_resubmitting(
    tmp_path: Path, tiny_model_dir: Path, ray_cluster: RayCluster
) -> None:
    first = _worker(tmp_path, tiny_model_dir, ray_cluster, "worker1.log").start()
    try:
        client = first.client()
        job_id = _create(client, _upload(client, tmp_path), n_epochs=50, max_steps=80)
        wait_for(lambda: len(metric_steps(client, job_id)) >= 3, timeout=240, what="training")
        assert first.process is not None
        first.process.kill()  # the API only; the trainer lives on in Ray
        first.process.wait()
        assert trainer_pids(job_id), "the Ray job should outlive the worker API"
    finally:
        first.stop()

    second = _worker(tmp_path, tiny_model_dir, ray_cluster, "worker2.log").start()
    try:
        client = second.client()
        job = wait_final(client, job_id, timeout=600)
        assert job.status == "succeeded", job.error
        assert len(ray_cluster.submissions(job_id)) == 1
        steps = sorted(set(metric_steps_all(client, job_id)))
        assert steps == list(range(1, 81))  # nothing lost while no API was watching
        messages = [e.message for e in all_events(client, job_id)]
        assert "The worker restarted; following the training again" in messages
        assert not any("resuming training" in m for m in messages)
    finally:
        second.stop()


def test_killed_trainer_is_retried_from_its_checkpoint(
    tmp_path: Path, tiny_model_dir: Path, ray_cluster: RayCluster
) -> None:
    """Also with ``--storage``: checkpoints and the adapter live in the shared folder."""
    shared = tmp_path / "shared"
    worker = _worker(tmp_path, tiny_model_dir, ray_cluster, "worker.log")
    worker.args += ["--storage", shared.as_uri()]
    worker.start()
    try:
        _retried_from_checkpoint(worker, ray_cluster, tmp_path, shared)
    finally:
        worker.stop()


def _retried_from_checkpoint(
    ray_worker: WorkerProcess, ray_cluster: RayCluster, tmp_path: Path, shared: Path
) -> None:
    client = ray_worker.client()
    job_id = _create(
        client, _upload(client, tmp_path), n_epochs=50, max_steps=60, checkpoint_steps=10
    )
    wait_for(lambda: client.fine_tuning.jobs.checkpoints.list(job_id).data, what="a checkpoint")
    pids = trainer_pids(job_id)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    job = wait_final(client, job_id, timeout=600)
    assert job.status == "succeeded", job.error
    submissions = ray_cluster.submissions(job_id)
    assert sorted(submissions) == [f"tunebot-{job_id}-1", f"tunebot-{job_id}-2"]
    messages = [e.message for e in all_events(client, job_id)]
    [retry] = [m for m in messages if "retrying from step" in m]
    saved = int(retry.split("retrying from step ")[1].split(" ")[0])
    assert saved >= 10 and saved % 10 == 0 and "attempt 2 of 3" in retry
    assert f"Training started (resumed at step {saved}): 60 steps." in messages
    assert (shared / "jobs" / job_id / "adapter" / "adapter_config.json").is_file()
    assert (shared / "jobs" / job_id / "checkpoints" / f"checkpoint-{saved}").is_dir()
    assert not (ray_worker.data_dir / "jobs" / job_id).exists()
    reply = client.chat.completions.create(
        model=str(job.fine_tuned_model), messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    assert reply.choices[0].message.content is not None


def metric_steps_all(client: OpenAI, job_id: str) -> list[int]:
    return [
        e.data["step"]
        for e in client.fine_tuning.jobs.list_events(job_id, limit=100)
        if e.type == "metrics" and e.data and "train_loss" in e.data
    ]
