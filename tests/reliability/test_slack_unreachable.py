"""``tunebot serve`` waits for an unreachable Slack and stops only on a rejected token.

The real process is pointed at a closed loopback port; it must stay up, log one
line per attempt (no traceback), and connect as soon as the fake Slack comes up
on that port. A token Slack refuses ends it with one message and exit status 2.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from bot.fakeslack.api import FakeSlack
from tests.reliability.serve_process import free_port, serve_env, start_serve, stop

TOKEN = "xoxb-1111-2222-faketoken"
APP_TOKEN = "xapp-1-A0TUNEBOT-3333-fakeapptoken"
RETRY_LINE = "Slack unreachable"


def _wait(predicate: object, *, timeout: float, what: str, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log_path.read_text()}"
        time.sleep(0.2)


def _retry_lines(log_path: Path) -> list[str]:
    return [line for line in log_path.read_text().splitlines() if RETRY_LINE in line]


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_serve_waits_for_slack_then_connects(tmp_path: Path, mode: str) -> None:
    port = free_port()  # closed: nothing listens here until the fake starts
    base_url = f"http://127.0.0.1:{port}/api/"
    http_port = free_port()
    mode_env = (
        {"SLACK_SIGNING_SECRET": "unreachable-secret"}
        if mode == "http"
        else {"SLACK_APP_TOKEN": APP_TOKEN}
    )
    env = serve_env(tmp_path, SLACK_BOT_TOKEN=TOKEN, SLACK_API_BASE_URL=base_url, **mode_env)
    log_path = tmp_path / "serve.log"
    process = start_serve(env, log_path, "--host", "127.0.0.1", "--port", str(http_port))
    slack = FakeSlack(bot_token=TOKEN, app_token=APP_TOKEN)
    try:
        _wait(
            lambda: process.poll() is None and len(_retry_lines(log_path)) >= 2,
            timeout=60,
            what="two retry lines",
            log_path=log_path,
        )
        assert process.poll() is None, log_path.read_text()
        slack.start(port=port)
        if mode == "http":

            def healthy() -> bool:
                assert process.poll() is None, log_path.read_text()
                try:
                    return httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).is_success
                except httpx.HTTPError:
                    return False

            _wait(healthy, timeout=90, what="HTTP mode to serve", log_path=log_path)
            assert slack.calls("auth.test"), "serve never asked the fake Slack"
        else:
            _wait(
                lambda: process.poll() is None and slack.socket_connected(),
                timeout=90,
                what="the Socket Mode connection",
                log_path=log_path,
            )
    finally:
        status = stop(process)
        slack.stop()
    output = log_path.read_text()
    print(f"\n{mode} mode, Slack down at first:\n" + "\n".join(_retry_lines(log_path)))
    assert status in (0, -signal.SIGTERM), output
    assert "Traceback" not in output, output
    assert TOKEN not in output and APP_TOKEN not in output
    lines = _retry_lines(log_path)
    # One line per attempt: attempt numbers 1, 2, ... each once, with the wait said.
    numbers = [int(line.split("attempt ")[1].split()[0]) for line in lines]
    assert numbers == list(range(1, len(lines) + 1)), lines
    assert all("retrying in" in line and f"127.0.0.1:{port}" in line for line in lines)


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_a_rejected_token_is_one_message_and_exit_2(
    fake_slack: FakeSlack, tmp_path: Path, mode: str
) -> None:
    if mode == "http":
        tokens = {"SLACK_BOT_TOKEN": "xoxb-revoked-9999", "SLACK_SIGNING_SECRET": "s"}
        named = "SLACK_BOT_TOKEN"
    else:
        tokens = {"SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_APP_TOKEN": "xapp-revoked-9999"}
        named = "SLACK_APP_TOKEN"
    env = serve_env(tmp_path, SLACK_API_BASE_URL=fake_slack.base_url, **tokens)
    log_path = tmp_path / "serve.log"
    process = start_serve(env, log_path, "--host", "127.0.0.1", "--port", str(free_port()))
    try:
        process.wait(timeout=90)
    finally:
        stop(process)
    output = log_path.read_text()
    assert process.returncode == 2, output
    assert "Traceback" not in output and RETRY_LINE not in output, output
    assert output.count("tunebot serve cannot start") == 1, output
    assert f"Slack rejected {named}" in output and "invalid_auth" in output, output
    assert "revoked-9999" not in output
