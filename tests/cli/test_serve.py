"""``tunebot serve``: clear refusal without settings; HTTP mode really serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bot.fakeslack.api import FakeSlack
from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
SLACK_VARS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET")


def test_missing_settings_are_listed_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in SLACK_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "SLACK_BOT_TOKEN" in result.output and "SLACK_SIGNING_SECRET" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http_mode_serves_healthz_and_refuses_unsigned_requests(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TUNEBOT_", "OPENAI_", "AZURE_"))
    }
    env.update(fake_slack.env())
    env.update(
        SLACK_SIGNING_SECRET="s3cret-signing",
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        TUNEBOT_DATA_DIR=str(tmp_path / "data"),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "tunebot serve did not start"
                time.sleep(0.2)
        assert health.json() == {"ok": True}
        unsigned = httpx.post(
            f"http://127.0.0.1:{port}/slack/events", json={"type": "event_callback"}
        )
        assert unsigned.status_code == 401
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0]
    assert "every member of the workspace can start fine-tuning jobs" in output
    assert fake_slack.bot_token not in output and "s3cret-signing" not in output


def test_a_rejected_bot_token_is_a_clear_exit_2(
    fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("SLACK_API_BASE_URL", fake_slack.base_url)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    result = CliRunner().invoke(app, ["serve", "--port", str(_free_port())])
    assert result.exit_code == 2
    assert "rejected SLACK_BOT_TOKEN" in result.output and "xoxb-revoked" not in result.output
