"""``GET /metrics``: the worker's state in Prometheus' text format.

Open, like ``/healthz``, rather than behind the API key. Why: Prometheus (and
most scrapers) expect an unauthenticated ``/metrics`` on a private network, and
putting ``TUNEBOT_WORKER_API_KEY`` (which can read datasets and start training)
into the monitoring system's config would hand that power to whoever reads it.
What is served here is aggregate numbers only: counts by status and bytes of
GPU memory, never a job id, file id, model output or dataset content.

The numbers are read when scraped (a custom collector), so nothing has to keep
counters in step with the runner and the store.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.deps import StateDep, WorkerState

router = APIRouter(tags=["metrics"])

JOB_STATUSES = ("validating_files", "queued", "running", "succeeded", "failed", "cancelled")
"""Always exported (0 when none), so a dashboard's series exist from the first scrape."""


class WorkerCollector(Collector):
    """Reads the queue, the job table and GPU memory at scrape time."""

    def __init__(self, state: WorkerState) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self.state
        yield GaugeMetricFamily(
            "tunebot_worker_queue_depth",
            "Jobs waiting to train (validating files or queued).",
            value=state.runner.queue_length(),
        )
        yield GaugeMetricFamily(
            "tunebot_worker_running_jobs",
            "Training processes running now (the worker runs one at a time).",
            value=0 if state.runner.running_job_id is None else 1,
        )
        jobs = GaugeMetricFamily(
            "tunebot_worker_jobs", "Jobs in the worker's store by status.", labels=["status"]
        )
        counts = state.store.job_counts()
        for status in sorted(set(JOB_STATUSES) | set(counts)):
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        yield gpu_memory(state.device)


def gpu_memory(device: str) -> GaugeMetricFamily:
    """Used and total memory of each visible GPU, in bytes (no samples on CPU).

    ``torch.cuda.mem_get_info`` asks the driver, so memory held by the training
    subprocess counts too, not only this process's inference models.
    """
    family = GaugeMetricFamily(
        "tunebot_worker_gpu_memory_bytes",
        "GPU memory by device and kind (used, total), all processes included.",
        labels=["gpu", "kind"],
    )
    if not device.startswith("cuda"):
        return family
    import torch

    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        family.add_metric([str(index), "used"], total - free)
        family.add_metric([str(index), "total"], total)
    return family


def registry_for(state: WorkerState) -> CollectorRegistry:
    """A registry over this app's state; built per scrape because it holds no
    counters (everything is read from the state), so two workers in one test
    process never share numbers."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(state))
    return registry


@router.get("/metrics", include_in_schema=False)
def metrics(state: StateDep) -> Response:
    return Response(generate_latest(registry_for(state)), media_type=CONTENT_TYPE_LATEST)
