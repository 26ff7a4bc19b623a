"""Fixtures: the tiny model and a Ray cluster (once per session), a worker process per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.worker.harness import WorkerProcess

if TYPE_CHECKING:
    from tests.worker.ray_cluster import RayCluster


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worker.tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def worker(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[WorkerProcess]:
    root = tmp_path_factory.mktemp("worker")
    process = WorkerProcess(root / "data", tiny_model_dir, root / "worker.log").start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    """A real ``ray start --head`` on loopback, shared: starting and stopping one costs ~50 s."""
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    from tests.worker.ray_cluster import start_ray_cluster, stop_ray_cluster

    cluster = start_ray_cluster(num_cpus=2, log_path=tmp_path_factory.mktemp("ray") / "ray.log")
    yield cluster
    stop_ray_cluster(cluster)
