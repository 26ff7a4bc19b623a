"""HTTP mode refuses oversized bodies before reading them, with RSS measured.

Anyone who knows the URL can POST to ``/slack/events``; the signature covers
the whole body, so the body must be bounded before it is read. Each test runs
the real ``tunebot serve`` process and sends what an attacker would: a huge
declared ``Content-Length`` and a chunked body with no length at all. The
process's RSS is read with psutil before and after, and printed (run with
``-s`` to see the figures).
"""

from __future__ import annotations

import select
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from bot.fakeslack.api import FakeSlack
from bot.fakeslack.events import SlackEventSender, sign
from tests.reliability.serve_process import free_port, serve_env, start_serve, stop, wait_healthy

SECRET = "body-limit-signing-secret"
LIMIT = 1024 * 1024  # TUNEBOT_MAX_REQUEST_BYTES for these tests
HUGE = 300 * 1024 * 1024  # the 300 MB POST that took the bot from 215 MB to 2 GB
CHUNK = 64 * 1024
MIB = 1024 * 1024


class Served:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}/slack/events"

    def rss(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_channel("C0TUNEBOT", name="fine-tuning")
        fake.add_user("U0ALICE", name="alice")
        yield fake


@pytest.fixture(scope="module")
def served(slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One process for the module: starting it takes seconds on a busy machine."""
    tmp_path = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = serve_env(
        tmp_path,
        **slack.env(),
        SLACK_SIGNING_SECRET=SECRET,
        TUNEBOT_MAX_REQUEST_BYTES=str(LIMIT),
    )
    log_path = tmp_path / "serve.log"
    process = start_serve(env, log_path, "--host", "127.0.0.1", "--port", str(port))
    try:
        wait_healthy(process, port, log_path)
        yield Served(process, port, log_path)
    finally:
        status = stop(process)
    output = log_path.read_text()
    # uvicorn re-raises SIGTERM after its graceful shutdown, hence -15 in HTTP mode.
    assert status in (0, -signal.SIGTERM), output
    assert "Traceback" not in output, output


def _status_line(sock: socket.socket) -> str:
    data = b""
    while b"\r\n" not in data:
        more = sock.recv(4096)
        if not more:
            break
        data += more
    return data.split(b"\r\n", 1)[0].decode()


def _send_until_answered(sock: socket.socket, chunks: Iterator[bytes]) -> tuple[str, int]:
    """Send ``chunks`` until the server answers; (status line, bytes sent before that)."""
    sent = 0
    for chunk in chunks:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            break
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(chunk)
    return _status_line(sock), sent


def _head(port: int, extra: str) -> bytes:
    return (
        f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


def test_a_huge_declared_body_is_refused_before_it_is_read(served: Served) -> None:
    before = served.rss()
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(_head(served.port, f"Content-Length: {HUGE}\r\n"))
        body = (b"x" * CHUNK for _ in range(HUGE // CHUNK))
        status, sent = _send_until_answered(sock, body)
    after = served.rss()
    print(
        f"\ndeclared 300 MB body: RSS before {before / MIB:.1f} MiB, after {after / MIB:.1f} MiB,"
        f" {sent / MIB:.1f} MiB sent before the answer: {status}"
    )
    assert status.startswith("HTTP/1.1 413"), status
    assert sent < 64 * MIB
    assert after - before < 32 * MIB


def test_a_chunked_body_is_cut_off_at_the_limit(served: Served) -> None:
    before = served.rss()
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(_head(served.port, "Transfer-Encoding: chunked\r\n"))
        frame = f"{CHUNK:x}\r\n".encode() + b"y" * CHUNK + b"\r\n"
        status, sent = _send_until_answered(sock, (frame for _ in range(HUGE // CHUNK)))
    after = served.rss()
    print(
        f"\nchunked 300 MB body: RSS before {before / MIB:.1f} MiB, after {after / MIB:.1f} MiB,"
        f" {sent / MIB:.1f} MiB sent before the answer: {status}"
    )
    assert status.startswith("HTTP/1.1 413"), status
    assert sent < 64 * MIB
    assert after - before < 32 * MIB


def test_the_limit_is_the_setting_and_signed_requests_under_it_work(
    served: Served, slack: FakeSlack
) -> None:
    over = b"{" + b" " * LIMIT + b"}"
    refused = httpx.post(
        served.url,
        content=over,
        headers={"Content-Type": "application/json", **sign(over, signing_secret=SECRET)},
    )
    assert refused.status_code == 413
    assert "TUNEBOT_MAX_REQUEST_BYTES" in refused.text
    under = b"{" + b" " * (LIMIT // 2) + b"}"
    assert httpx.post(served.url, content=under).status_code == 401  # unsigned: bolt refuses
    sender = SlackEventSender(served.url, signing_secret=SECRET, slack=slack)
    try:
        assert sender.command("help", user_id="U0ALICE", channel_id="C0TUNEBOT").status_code == 200
    finally:
        sender.close()


@pytest.mark.parametrize("timestamp", ["soon", "1e9", "-5", "12 34"])
def test_a_non_numeric_timestamp_is_401_not_500(served: Served, timestamp: str) -> None:
    body = b'{"type": "event_callback"}'
    headers = sign(body, signing_secret=SECRET)
    headers["X-Slack-Request-Timestamp"] = timestamp
    response = httpx.post(
        served.url, content=body, headers={"Content-Type": "application/json", **headers}
    )
    assert response.status_code == 401, response.text
