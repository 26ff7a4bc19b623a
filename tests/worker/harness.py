"""A real worker process on loopback, driven by the real ``openai`` SDK.

Why a subprocess: tests must be able to SIGKILL the worker mid-run and start
it again on the same data dir, exactly as a crash would; and it exercises the
``tunebot worker`` command itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from openai import OpenAI

REPO = Path(__file__).resolve().parents[2]
API_KEY = "test-worker-key"
MAX_UPLOAD_BYTES = 300_000
STARTUP_SECONDS = 120

QA = [
    ("What colour is the sky?", "blue"),
    ("First day of the week?", "Monday"),
    ("Capital of France?", "Paris"),
    ("Say hello in French.", "bonjour"),
    ("Two plus two?", "four"),
    ("Opposite of red?", "green"),
    ("Last day of the week?", "Sunday"),
    ("Name a fruit.", "orange"),
    ("Name a number.", "seven"),
    ("Name a pet.", "cat"),
]
SYSTEM = "Answer in one word."

# Settings that make the tiny model memorise QA in a few seconds of CPU.
FAST_HYPERPARAMETERS: dict[str, Any] = {
    "n_epochs": 20,
    "batch_size": 5,
    "learning_rate_multiplier": 25,
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "max_seq_length": 64,
    "checkpoint_steps": 20,
}


def chat_prompt(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def write_chat_jsonl(path: Path, pairs: list[tuple[str, str]] = QA) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for question, answer in pairs:
            messages = [*chat_prompt(question), {"role": "assistant", "content": answer}]
            handle.write(json.dumps({"messages": messages}) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class WorkerProcess:
    """``tunebot worker`` in a subprocess; ``stop()`` or ``kill()`` it."""

    data_dir: Path
    model_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    model_spec: str | None = None
    """``--model`` value as a user types it (default ``tiny=<model_dir>``)."""
    args: list[str] = field(default_factory=list)
    """Extra ``tunebot worker`` options (launcher, storage, serving...)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables (settings)."""
    clients: list[OpenAI] = field(default_factory=list)
    """Clients handed out by :meth:`client`; :meth:`stop` closes their connections."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WorkerProcess:
        env = {
            **os.environ,
            "TUNEBOT_WORKER_API_KEY": API_KEY,
            "TUNEBOT_MAX_FILE_BYTES": str(MAX_UPLOAD_BYTES),
            "TUNEBOT_WORKER_CANCEL_GRACE": "30",
            "PYTHONPATH": str(REPO),
            "TOKENIZERS_PARALLELISM": "false",
            # Several test processes share two cores: one thread each avoids
            # OpenMP spin-waiting on oversubscribed cores (6x slower here).
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            **self.env,
        }
        command = [
            sys.executable, "-m", "cli.main", "worker",
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            "--model", self.model_spec or f"tiny={self.model_dir}",
            "--log-level", "warning",
            *self.args,
        ]  # fmt: skip
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.data_dir.parent, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("worker did not start in time")

    def client(self, *, api_key: str = API_KEY) -> OpenAI:
        made = OpenAI(base_url=self.base_url + "/v1", api_key=api_key, max_retries=0, timeout=120)
        self.clients.append(made)
        return made

    def stop(self) -> None:
        # The SDK's client sits in a reference cycle: dropped unclosed, its sockets
        # are freed by a later garbage collection, inside whichever test runs then.
        for client in self.clients:
            client.close()
        self.clients.clear()
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill_with_trainer(self, job_id: str) -> int | None:
        """SIGKILL the worker and the job's process group, as a machine crash would."""
        pid = job_pid(self.data_dir, job_id)
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        return pid


def job_pid(data_dir: Path, job_id: str) -> int | None:
    with sqlite3.connect(data_dir / "worker.db") as db:
        row = db.execute("SELECT pid FROM worker_jobs WHERE id = ?", (job_id,)).fetchone()
    return row[0] if row else None


def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 180, interval: float = 0.2, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def wait_final(client: OpenAI, job_id: str, *, timeout: float = 240) -> Any:
    def done() -> Any:
        job = client.fine_tuning.jobs.retrieve(job_id)
        return job if job.status in ("succeeded", "failed", "cancelled") else None

    return wait_for(done, timeout=timeout, interval=0.5, what=f"{job_id} to finish")


def all_events(client: OpenAI, job_id: str) -> list[Any]:
    """Every event, newest first, following the SDK's auto-pagination."""
    return list(client.fine_tuning.jobs.list_events(job_id, limit=7))


def metric_steps(client: OpenAI, job_id: str) -> list[int]:
    page = client.fine_tuning.jobs.list_events(job_id, limit=100)
    return [e.data["step"] for e in page.data if e.type == "metrics" and "train_loss" in e.data]
