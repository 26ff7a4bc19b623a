"""Fixtures: the tiny model (once per session) and a worker process per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.worker.harness import WorkerProcess


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
