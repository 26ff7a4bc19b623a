"""``/metrics`` on a real ``tunebot worker`` process, scraped as Prometheus would."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.worker.harness import (
    FAST_HYPERPARAMETERS,
    WorkerProcess,
    metric_steps,
    wait_final,
    wait_for,
    write_chat_jsonl,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(worker: WorkerProcess) -> tuple[str, Samples]:
    """The raw text and every sample, keyed by (name, sorted labels). No key sent."""
    response = httpx.get(worker.base_url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return response.text, samples


def test_metrics_follow_the_queue_and_never_name_a_job(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    _, before = scrape(worker)
    assert before[("tunebot_worker_queue_depth", ())] == 0
    assert before[("tunebot_worker_jobs", (("status", "running"),))] == 0
    # CPU here: the family is declared and has no samples.
    assert not any(name == "tunebot_worker_gpu_memory_bytes" for name, _ in before)

    client = worker.client()
    with write_chat_jsonl(tmp_path / "train.jsonl").open("rb") as data:
        training = client.files.create(file=data, purpose="fine-tune")
    long_run = {
        "type": "supervised",
        "supervised": {
            "hyperparameters": {**FAST_HYPERPARAMETERS, "n_epochs": 50, "checkpoint_steps": 0}
        },
    }
    jobs = client.fine_tuning.jobs
    first = jobs.create(model="tiny", training_file=training.id, method=long_run)  # type: ignore[arg-type]
    second = jobs.create(model="tiny", training_file=training.id, method=long_run)  # type: ignore[arg-type]
    wait_for(lambda: metric_steps(client, first.id), what="first job training")

    def busy() -> Samples | None:
        _, samples = scrape(worker)
        queued = samples[("tunebot_worker_queue_depth", ())] == 1
        return samples if queued and samples[("tunebot_worker_running_jobs", ())] == 1 else None

    during = wait_for(busy, what="one job running and one queued")
    assert during[("tunebot_worker_jobs", (("status", "running"),))] == 1

    jobs.cancel(second.id)
    jobs.cancel(first.id)
    wait_final(client, first.id)
    text, after = scrape(worker)
    assert after[("tunebot_worker_jobs", (("status", "cancelled"),))] == (
        before[("tunebot_worker_jobs", (("status", "cancelled"),))] + 2
    )
    assert after[("tunebot_worker_queue_depth", ())] == 0
    assert after[("tunebot_worker_running_jobs", ())] == 0
    for secret in (first.id, second.id, training.id, "test-worker-key"):
        assert secret not in text


def test_worker_logs_are_json_lines_without_the_key(worker: WorkerProcess) -> None:
    """stderr is a file here, so `tunebot worker` logs JSON (TUNEBOT_LOG_FORMAT unset)."""
    text = worker.log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(
        line["logger"] == "worker.app" and "worker ready" in line["message"] for line in lines
    )
    assert "test-worker-key" not in text
