"""``tunebot worker --model NAME=PATH`` as the README writes it: relative, checked at startup.

Why: training runs in each job's own folder, so a relative ``./tiny`` given at
startup named nothing there and Hugging Face read it as a malformed repo id;
the first job failed. And a missing model started fine and failed only when a
job ran. Every test runs the real ``tunebot worker`` from a folder holding
``./tiny``, written by ``python -m worker.tiny_model ./tiny`` as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.worker.harness import (
    API_KEY,
    FAST_HYPERPARAMETERS,
    REPO,
    WorkerProcess,
    wait_final,
    write_chat_jsonl,
)


def _env() -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TUNEBOT_")},
        "TUNEBOT_WORKER_API_KEY": API_KEY,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",  # a misread path must not turn into a download attempt
    }


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``./tiny`` in it, made the way the README says."""
    folder = tmp_path_factory.mktemp("home")
    subprocess.run(
        [sys.executable, "-m", "worker.tiny_model", "./tiny"],
        cwd=folder,
        env=_env(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder


def _refusal(home: Path, spec: str) -> str:
    """Start ``tunebot worker --model SPEC`` in ``home``; it must refuse with exit 2."""
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "worker", "--model", spec, "--port", "1"],
        cwd=home,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_a_missing_folder_is_refused_at_startup_naming_the_model(home: Path) -> None:
    message = _refusal(home, "mine=./nope")
    assert "Model 'mine': ./nope" in message and "does not exist" in message
    assert str(home / "nope") in message  # says where it looked


def test_a_folder_without_a_tokenizer_is_refused(home: Path) -> None:
    half = home / "half"
    half.mkdir(exist_ok=True)
    (half / "config.json").write_bytes((home / "tiny" / "config.json").read_bytes())
    message = _refusal(home, "half=./half")
    assert "Model 'half': cannot load its tokenizer" in message


def test_a_folder_without_a_config_is_refused(home: Path) -> None:
    (home / "empty").mkdir(exist_ok=True)
    assert "Model 'bare': cannot load its config" in _refusal(home, "bare=./empty")


@pytest.fixture(scope="module")
def relative_worker(home: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(
        home / "worker-data", home / "tiny", home / "worker.log", model_spec="tiny=./tiny"
    )
    process.start()  # cwd is home, so ./tiny is the folder made above
    yield process
    process.stop()


@pytest.mark.slow
def test_a_job_on_a_relative_model_path_succeeds(
    relative_worker: WorkerProcess, tmp_path: Path
) -> None:
    client = relative_worker.client()
    uploaded = client.files.create(
        file=write_chat_jsonl(tmp_path / "train.jsonl"), purpose="fine-tune"
    )
    hyperparameters = {**FAST_HYPERPARAMETERS, "n_epochs": 2}
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=uploaded.id,
        method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
    )
    job = wait_final(client, job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model
    reply = client.chat.completions.create(
        model=job.fine_tuned_model,
        messages=[{"role": "user", "content": "Name a pet."}],
        max_tokens=4,
    )
    assert reply.choices[0].message.content is not None
