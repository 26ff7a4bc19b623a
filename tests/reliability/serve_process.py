"""The real ``tunebot serve`` process, started with environment variables as a user does.

Why a subprocess: memory (RSS), startup retries and exit statuses are properties
of the process a team runs, not of objects built in the test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback port nothing listens on (closed: connecting is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """The caller's environment without Slack/provider settings, plus ``values``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TUNEBOT_", "OPENAI_", "AZURE_"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        TUNEBOT_DATA_DIR=str(tmp_path / "data"),
    )
    env.update(values)
    return env


def start_serve(env: dict[str, str], log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m cli.main serve ARGS`` with stdout and stderr into ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_healthy(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    """Until ``GET /healthz`` answers; fails with the log if the process exits."""
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log_path.read_text()
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "tunebot serve did not start"
            time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then the exit status (SIGKILL after 15 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
