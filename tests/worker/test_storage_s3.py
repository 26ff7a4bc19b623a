"""``--storage s3://…`` against a real S3-compatible server (moto in server mode) on loopback.

The worker keeps only its database and local copies; the upload, the
trainer's checkpoints, adapter, progress and result, and the metrics file all
go through the bucket, and chat serves the adapter downloaded from it.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.worker.harness import (
    FAST_HYPERPARAMETERS,
    QA,
    WorkerProcess,
    chat_prompt,
    free_port,
    wait_final,
    write_chat_jsonl,
)

s3fs = pytest.importorskip("s3fs", reason="the [ray] extra (s3fs) is not installed")
pytestmark = pytest.mark.slow

BUCKET = "tunebot-test"


@pytest.fixture
def s3_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = free_port()
    with (tmp_path / "moto.log").open("wb") as log:  # closed once the server is gone
        server = Path(sys.executable).parent / "moto_server"
        process = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
        env = {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        }
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.TransportError):
                    httpx.get(env["AWS_ENDPOINT_URL"], timeout=1)
                    break
                time.sleep(0.2)
            _fs(env).mkdir(BUCKET)
            yield env
        finally:
            process.terminate()
            process.wait(timeout=30)


def _fs(env: dict[str, str]):  # type: ignore[no-untyped-def]  # s3fs has no stubs
    return s3fs.S3FileSystem(
        key=env["AWS_ACCESS_KEY_ID"],
        secret=env["AWS_SECRET_ACCESS_KEY"],
        endpoint_url=env["AWS_ENDPOINT_URL"],
    )


@pytest.mark.parametrize("launcher", ["local", "ray"])
def test_files_checkpoints_and_adapters_live_in_the_bucket(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tiny_model_dir: Path,
    s3_env: dict[str, str],
    launcher: str,
) -> None:
    """With ``ray`` the trainer runs in Ray's own folder and sees only the bucket."""
    args = ["--storage", f"s3://{BUCKET}/worker"]
    if launcher == "ray":
        cluster = request.getfixturevalue("ray_cluster")  # the session's, shared
        args += ["--launcher", "ray", "--ray-address", cluster.address]
    worker = WorkerProcess(
        tmp_path / "data", tiny_model_dir, tmp_path / "worker.log", args=args, env=s3_env
    )
    try:
        worker.start()
        _train_through_the_bucket(worker, s3_env)
    finally:
        worker.stop()


def _train_through_the_bucket(worker: WorkerProcess, s3_env: dict[str, str]) -> None:
    tmp_path = worker.data_dir.parent
    client = worker.client()
    uploaded = client.files.create(
        file=write_chat_jsonl(tmp_path / "train.jsonl"), purpose="fine-tune"
    )
    fs = _fs(s3_env)
    assert fs.exists(f"{BUCKET}/worker/files/{uploaded.id}")
    method = {
        "type": "supervised",
        "supervised": {"hyperparameters": {**FAST_HYPERPARAMETERS, "checkpoint_steps": 10}},
    }
    created = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=uploaded.id,
        seed=7,
        method=method,  # type: ignore[arg-type]
    )
    job = wait_final(client, created.id)
    assert job.status == "succeeded", job.error
    prefix = f"{BUCKET}/worker/jobs/{job.id}"
    assert fs.exists(f"{prefix}/adapter/adapter_model.safetensors")
    assert fs.exists(f"{prefix}/checkpoints/checkpoint-10/trainer_state.json")
    assert fs.exists(f"{prefix}/result.json") and fs.exists(f"{prefix}/progress.jsonl")
    assert fs.exists(f"{BUCKET}/worker/files/{job.result_files[0]}")
    local = worker.data_dir / "jobs" / job.id
    assert not (local / "adapter").exists()  # trained in a scratch folder, not here
    assert client.fine_tuning.jobs.checkpoints.list(job.id).data

    question, answer = QA[0]
    reply = client.chat.completions.create(
        model=str(job.fine_tuned_model), messages=chat_prompt(question), temperature=0,
        max_tokens=8,  # type: ignore[arg-type]
    )  # fmt: skip
    assert reply.choices[0].message.content == answer  # the adapter from the bucket
    assert (local / "adapter" / "adapter_config.json").is_file()
