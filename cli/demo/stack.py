"""The processes behind ``tunebot demo``: the tiny model, the worker, the bot, the fake Slack.

Why real processes: the demo shows the product, not a mock of it. The worker
is ``tunebot worker`` and the bot is ``tunebot serve`` in HTTP mode, started
exactly as a team would start them, configured only by environment variables;
the bot's Slack is the fake that ships in ``bot.fakeslack``. Every process
runs in the demo's temporary folder and is stopped (its jobs cancelled first)
when the demo ends, however it ends.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from bot.fakeslack.api import FakeSlack

__all__ = ["CHANNEL", "PEOPLE", "DemoError", "Stack"]

CHANNEL = "C0DEMO"
# The team in the demo's workspace: (user id, name). Alice is the admin.
PEOPLE = (("U0ALICE", "alice"), ("U0BOB", "bob"), ("U0CAROL", "carol"))
STARTUP_SECONDS = 120.0
STOP_SECONDS = 20.0


class DemoError(RuntimeError):
    """The demo could not go on; the message says what failed and where its log is."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(root: Path) -> dict[str, str]:
    """The caller's environment without any Slack/provider/tunebot setting.

    Why: a developer's real SLACK_BOT_TOKEN or OPENAI_API_KEY must never reach
    the demo's processes; they talk only to the fake and the local worker.
    Their temporary files (torch's compile cache, matplotlib's) go into the
    demo's folder, so nothing outlives the demo.
    """
    prefixes = ("SLACK_", "TUNEBOT_", "OPENAI_", "AZURE_", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    temp = root / "tmp"
    temp.mkdir(exist_ok=True)
    env["TMPDIR"] = str(temp)
    # The tiny model's matrices are 64 wide: one thread is faster than several
    # fighting over two cores (OpenMP spin-waits).
    env.setdefault("OMP_NUM_THREADS", "1")
    env["TOKENIZERS_PARALLELISM"] = "false"
    return env


class Stack:
    """Start with ``with Stack(root) as stack:``; everything stops on exit."""

    def __init__(self, root: Path, *, poll_seconds: float = 1.0) -> None:
        self.root = root
        self.poll_seconds = poll_seconds
        self.slack = FakeSlack()
        self.signing_secret = secrets.token_hex(16)
        self.worker_key = secrets.token_hex(16)
        self.worker_port = _free_port()
        self.bot_port = _free_port()
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    # ---- lifecycle -------------------------------------------------------
    def __enter__(self) -> Self:
        try:
            self.slack.start()
            self.slack.add_channel(CHANNEL, name="fine-tuning")
            for user_id, name in PEOPLE:
                self.slack.add_user(user_id, name=name)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Cancel unfinished worker jobs, stop the bot and the worker, stop the fake."""
        if "worker" in self._processes:
            self._cancel_worker_jobs()
        # All at once: each stops on its own, and waiting in turn doubles the time.
        stopping = [
            self._processes.pop(n) for n in ("bot", "worker", "model") if n in self._processes
        ]
        for process in stopping:
            _signal(process, signal.SIGTERM)
        for process in stopping:
            _stop(process)
        self.slack.stop()

    # ---- the parts -------------------------------------------------------
    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def log_tail(self, name: str, lines: int = 15) -> str:
        """The last lines of a part's log, without the scheduler's routine lines."""
        path = self.log(name)
        if not path.exists():
            return ""
        kept = [
            line
            for line in path.read_text(errors="replace").splitlines()
            if "apscheduler" not in line and "progress tick:" not in line
        ]
        return "\n".join(kept[-lines:])

    def build_tiny_model(self) -> Path:
        """``python -m worker.tiny_model --tools``: a random tiny Llama, built offline in seconds.

        ``--tools``: its chat template renders tool use, which some of the
        example's conversations have (the worker refuses files it cannot render).
        """
        model = self.root / "tiny-model"
        command = [sys.executable, "-m", "worker.tiny_model", str(model), "--tools"]
        process = self._spawn("model", command)
        try:
            code = process.wait(timeout=STARTUP_SECONDS)
        except subprocess.TimeoutExpired:
            raise DemoError("building the tiny model took too long") from None
        self._processes.pop("model", None)
        if code != 0:
            raise DemoError(f"building the tiny model failed:\n{self.log_tail('model')}")
        return model

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.worker_port}"

    @property
    def bot_url(self) -> str:
        return f"http://127.0.0.1:{self.bot_port}"

    def start_worker(self, model: Path) -> None:
        """``tunebot worker --model tiny=MODEL`` on a free loopback port."""
        env = {**_clean_env(self.root), "TUNEBOT_WORKER_API_KEY": self.worker_key}
        env["TUNEBOT_WORKER_CANCEL_GRACE"] = "5"
        command = [
            sys.executable, "-m", "cli.main", "worker",
            "--host", "127.0.0.1", "--port", str(self.worker_port),
            "--data-dir", str(self.root / "worker-data"),
            "--model", f"tiny={model}",
            "--log-level", "warning",
        ]  # fmt: skip
        self._spawn("worker", command, env=env)
        self._wait_healthy("worker", self.worker_url + "/healthz")

    def start_bot(self, *, admin: str) -> None:
        """``tunebot serve`` in HTTP mode, its Slack being the fake, its provider the worker.

        Returns once started; :meth:`wait_for_bot` waits until it answers (it
        needs nothing from the worker to start, so both start side by side).
        """
        env = {
            **_clean_env(self.root),
            **self.slack.env(),  # SLACK_BOT_TOKEN and SLACK_API_BASE_URL (the fake)
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "DATABASE_URL": f"sqlite:///{self.root / 'tunebot.db'}",
            "TUNEBOT_DATA_DIR": str(self.root / "bot-data"),
            "TUNEBOT_WORKER_URL": self.worker_url + "/v1",
            "TUNEBOT_WORKER_API_KEY": self.worker_key,
            "TUNEBOT_ADMINS": admin,
            # A demo wants to see progress at once; production polls every 30 s
            # and edits at most every 20 s (Slack's chat.update tier).
            "TUNEBOT_POLL_SECONDS": str(self.poll_seconds),
            "TUNEBOT_MIN_EDIT_SECONDS": str(self.poll_seconds),
            "TUNEBOT_PROVIDER_TIMEOUT": "120",
        }
        command = [
            sys.executable, "-m", "cli.main", "serve",
            "--host", "127.0.0.1", "--port", str(self.bot_port),
        ]  # fmt: skip
        self._spawn("bot", command, env=env)

    def wait_for_bot(self) -> None:
        self._wait_healthy("bot", self.bot_url + "/healthz")

    # ---- helpers ---------------------------------------------------------
    def _spawn(
        self, name: str, command: list[str], *, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with self.log(name).open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=self.root,
                env=env or _clean_env(self.root),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: Ctrl-C reaches only the demo, which
                # then stops each part in order (jobs cancelled first).
                start_new_session=True,
            )
        self._processes[name] = process
        return process

    def _wait_healthy(self, name: str, url: str) -> None:
        process = self._processes[name]
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DemoError(f"the {name} exited at start:\n{self.log_tail(name)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise DemoError(f"the {name} did not answer {url} in {STARTUP_SECONDS:.0f} s")

    def _cancel_worker_jobs(self) -> None:
        """Cancel what the worker still trains, through its API, and wait until it stopped.

        Why: the worker deliberately leaves training processes running across
        its own restarts (they resume); the demo must leave nothing behind.
        """
        headers = {"Authorization": f"Bearer {self.worker_key}"}
        base = self.worker_url + "/v1/fine_tuning/jobs"
        try:
            jobs = httpx.get(base, headers=headers, timeout=5).json().get("data", [])
            live = [
                j["id"]
                for j in jobs
                if j.get("status") in ("validating_files", "queued", "running")
            ]
            for job_id in live:
                httpx.post(f"{base}/{job_id}/cancel", headers=headers, timeout=10)
            deadline = time.monotonic() + STOP_SECONDS
            while live and time.monotonic() < deadline:
                statuses = [
                    httpx.get(f"{base}/{j}", headers=headers, timeout=5).json().get("status")
                    for j in live
                ]
                if all(s in ("cancelled", "succeeded", "failed") for s in statuses):
                    return
                time.sleep(0.5)
        except (httpx.HTTPError, ValueError):
            pass  # the worker is already gone or broken: nothing more to ask it


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the process's group (its own: started with start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL it if it is not gone in time."""
    if process.poll() is None:
        _signal(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
    # Anything left in the group (a helper the process started) goes too.
    _signal(process, signal.SIGKILL)
    process.wait()
