"""Issue #10 on the worker: hostile uploads and job bodies get 4xx, secrets stay out of trainers.

Everything goes through a real ``tunebot worker`` process over loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.worker.harness import (
    API_KEY,
    FAST_HYPERPARAMETERS,
    MAX_UPLOAD_BYTES,
    WorkerProcess,
    job_pid,
    wait_final,
    wait_for,
    write_chat_jsonl,
)

AUTH = {"Authorization": f"Bearer {API_KEY}"}
BOUNDARY = "tunebot-test-boundary"


@pytest.fixture(scope="module")
def training_file_id(worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = write_chat_jsonl(tmp_path_factory.mktemp("data") / "train.jsonl")
    return worker.client().files.create(file=path, purpose="fine-tune").id


def _files_on_disk(worker: WorkerProcess) -> int:
    folder = worker.data_dir / "files"
    total = 0
    for path in folder.iterdir() if folder.is_dir() else ():
        # The worker deletes a refused upload while the client may still be sending.
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
    return total


def test_upload_cap_holds_while_streaming(worker: WorkerProcess) -> None:
    """A chunked 40 MB body with no Content-Length: the cap is enforced as it arrives."""
    before = _files_on_disk(worker)
    peak = 0
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal peak, sent
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        yield head.encode()
        line = (json.dumps({"text": "x" * 1000}) + "\n").encode()
        for _ in range(640):
            yield line * 64  # 64 KB chunks
            sent += 64 * len(line)
            peak = max(peak, _files_on_disk(worker) - before)
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    headers = {**AUTH, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    try:
        response = httpx.post(
            worker.base_url + "/v1/files", content=body(), headers=headers, timeout=60
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "file_too_large"
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass  # the server answered 413 and closed while we were still sending
    assert peak <= MAX_UPLOAD_BYTES, f"{peak} bytes landed for a {MAX_UPLOAD_BYTES} cap"
    assert _files_on_disk(worker) == before  # the partial file is removed


@pytest.mark.parametrize(
    ("first_line", "what"),
    [
        ("[" * 20_000 + "]" * 20_000, "nested"),  # inside the 64 KB sniff window
        ('{"n": ' + "9" * 5000 + "}", "number"),
    ],
)
def test_hostile_first_lines_are_400(worker: WorkerProcess, first_line: str, what: str) -> None:
    files = {"file": ("x.jsonl", (first_line + "\n").encode())}
    response = httpx.post(
        worker.base_url + "/v1/files",
        headers=AUTH,
        data={"purpose": "fine-tune"},
        files=files,
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert what in response.json()["error"]["message"]


def _create(worker: WorkerProcess, raw: str) -> httpx.Response:
    headers = {**AUTH, "Content-Type": "application/json"}
    return httpx.post(
        worker.base_url + "/v1/fine_tuning/jobs", content=raw, headers=headers, timeout=30
    )


@pytest.mark.parametrize(
    ("hyperparameters", "param"),
    [
        ('{"learning_rate_multiplier": NaN}', "learning_rate_multiplier"),
        ('{"lora_dropout": Infinity}', "lora_dropout"),
        ('{"learning_rate_multiplier": -Infinity}', "learning_rate_multiplier"),
        ('{"target_modules": "../../etc/passwd"}', "target_modules"),
        ('{"target_modules": "q_proj,/tmp/x"}', "target_modules"),
        ('{"max_seq_length": 16}', "max_seq_length"),
        ('{"n_gpus": 2}', "n_gpus"),  # a CPU box has no GPU to give
        ('{"seed": 18446744073709551616}', ""),
        ('{"seed": ' + "9" * 5000 + "}", ""),
    ],
)
def test_job_bodies_the_trainer_would_choke_on_are_400(
    worker: WorkerProcess, training_file_id: str, hyperparameters: str, param: str
) -> None:
    method = f'{{"type": "supervised", "supervised": {{"hyperparameters": {hyperparameters}}}}}'
    raw = f'{{"model": "tiny", "training_file": "{training_file_id}", "method": {method}}}'

    response = _create(worker, raw)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert param in (error["param"] or "") + error["message"]


@pytest.mark.parametrize(
    "extra",
    ['"seed": 18446744073709551616', '"seed": -1', '"integrations": [{"type": "wandb"}]'],
)
def test_top_level_fields_are_checked(
    worker: WorkerProcess, training_file_id: str, extra: str
) -> None:
    raw = f'{{"model": "tiny", "training_file": "{training_file_id}", {extra}}}'
    response = _create(worker, raw)
    assert response.status_code == 400, response.text


def test_trainer_sees_no_secrets_and_the_console_tells_the_story(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    secrets = {"SLACK_BOT_TOKEN": "xoxb-not-for-trainers", "SLACK_APP_TOKEN": "xapp-nope"}
    worker = WorkerProcess(
        tmp_path / "data", tiny_model_dir, tmp_path / "worker.log",
        args=["--log-level", "info"], env=secrets,
    ).start()  # fmt: skip
    try:
        client = worker.client()
        uploaded = client.files.create(
            file=write_chat_jsonl(tmp_path / "train.jsonl"), purpose="fine-tune"
        )
        hyper = {**FAST_HYPERPARAMETERS, "n_epochs": 2, "max_steps": None}
        method = {"type": "supervised", "supervised": {"hyperparameters": hyper}}
        job = client.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id, method=method)  # type: ignore[arg-type]
        pid = wait_for(lambda: job_pid(worker.data_dir, job.id), what="the trainer's pid")
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        names = {item.split(b"=", 1)[0].decode() for item in environ if item}
        assert "PATH" in names and "OMP_NUM_THREADS" in names
        leaked = names & {"TUNEBOT_WORKER_API_KEY", *secrets}
        assert not leaked
        assert not any(API_KEY.encode() in item for item in environ)
        assert wait_final(client, job.id).status == "succeeded"
    finally:
        worker.stop()
    log = worker.log_path.read_text()
    assert f"job {job.id} (model tiny): running" in log
    assert f"job {job.id} (model tiny): epoch 1/2 done" in log
    assert f"job {job.id} (model tiny): epoch 2/2 done" in log
    assert f"job {job.id} (model tiny): succeeded" in log
    assert os.environ.get("SLACK_BOT_TOKEN") != secrets["SLACK_BOT_TOKEN"]


def test_storage_quota_per_key(tmp_path: Path, tiny_model_dir: Path) -> None:
    quota_gb = 250_000 / 1024**3  # room for one 200 KB file, not two
    worker = WorkerProcess(
        tmp_path / "data", tiny_model_dir, tmp_path / "worker.log",
        env={"TUNEBOT_WORKER_MAX_STORAGE_GB": repr(quota_gb)},
    ).start()  # fmt: skip
    try:
        client = worker.client()
        line = json.dumps({"text": "y" * 1000}) + "\n"
        data = (line * 200).encode()
        first = client.files.create(file=("a.jsonl", data), purpose="fine-tune")
        import openai

        with pytest.raises(openai.APIStatusError) as raised:
            client.files.create(file=("b.jsonl", data), purpose="fine-tune")
        assert raised.value.status_code == 413
        assert raised.value.code == "storage_quota_exceeded"
        assert "TUNEBOT_WORKER_MAX_STORAGE_GB" in raised.value.message
        client.files.delete(first.id)
        assert client.files.create(file=("c.jsonl", data), purpose="fine-tune").bytes == len(data)
    finally:
        worker.stop()
