"""Health, readiness, metrics and logs of the real ``tunebot serve``/``poll`` processes.

Socket Mode has no HTTP server of its own, so ``--health-port`` serves the
probes; HTTP mode serves them beside ``/slack/events``. Logs go to stderr as
JSON lines (stderr is not a terminal here) and never carry a token or a
dataset's text.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.fakeslack.api import FakeSlack
from bot.fakeslack.events import message_event

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "C0TUNEBOT"
ALICE = "U0ALICE"
WAIT = 90.0  # startup on two shared cores can take a while
EVENT_ID = "Ev0PROBES01"
CANARY = "zebra-canary-7781"
"""Text inside the dropped dataset: it must never reach a log line."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TUNEBOT_", "OPENAI_", "AZURE_", "DATABASE_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        TUNEBOT_DATA_DIR=str(tmp_path / "data"),
        **extra,
    )
    return env


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[str]]:
    """The process with stderr (logs) to ``log``; stopped with SIGTERM afterwards."""
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            text=True,
        )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)


def wait_ok(url: str, process: subprocess.Popen[str], log: Path) -> None:
    import time

    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered 200:\n{log.read_text()}")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def json_lines(log: Path) -> list[dict[str, Any]]:
    """Every stderr line, each of which must be one JSON object."""
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # a text line fails here
    assert all({"ts", "level", "logger", "message"} <= set(p) for p in parsed)
    return parsed


def dataset() -> bytes:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question {i} about {CANARY}?"},
                {"role": "assistant", "content": f"Answer {i}."},
            ]
        }
        for i in range(12)
    ]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def test_socket_mode_serves_probes_and_metrics_and_logs_json(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    port = free_port()
    env = base_env(tmp_path, **fake_slack.socket_env())
    log = tmp_path / "serve.log"
    probes = f"http://127.0.0.1:{port}"
    with running(["serve", "--host", "127.0.0.1", "--health-port", str(port)], env, log) as process:
        wait_ok(probes + "/healthz", process, log)
        fake_slack.wait_for(fake_slack.socket_connected, timeout=WAIT, message="socket")

        # Readiness asks Slack; a revoked token makes the bot unready, naming why.
        fake_slack.fail_next("auth.test", error="token_revoked")
        ready = httpx.get(probes + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json() == {
            "ready": False,
            "problems": {"slack": "Slack auth.test: token_revoked"},
        }

        # A file drop whose first reply meets a 429 (slack_sdk retries it).
        fake_slack.fail_next("chat.postMessage", status=429, retry_after=0.2)
        content = dataset()
        info = fake_slack.add_file("faq.jsonl", content, user=ALICE, channel=CHANNEL)
        channel, message = fake_slack.file_message(info["id"])
        event = message_event(channel, message)
        fake_slack.wait_for_ack(fake_slack.socket_send_event(event, event_id=EVENT_ID))
        fake_slack.wait_for(
            lambda: [
                m
                for m in fake_slack.bot_messages(CHANNEL, message["ts"])
                if m.get("blocks") and not m.get("files")
            ],
            timeout=WAIT,
            message="the report",
        )

        def scraped() -> dict[Any, float] | None:
            response = httpx.get(probes + "/metrics", timeout=10)
            assert response.status_code == 200
            found = samples(response.text)
            name = "tunebot_validations_total"
            counted = sum(v for (metric, _), v in found.items() if metric == name)
            return found if counted else None

        metrics = fake_slack.wait_for(scraped, timeout=WAIT, message="a validation counted")
        text = httpx.get(probes + "/metrics", timeout=10).text
    assert process.returncode == 0, log.read_text()

    assert metrics[("tunebot_slack_requests_total", (("kind", "message"),))] == 1
    assert metrics[("tunebot_ack_seconds_count", (("kind", "message"),))] == 1
    verdicts = {k[1]: v for k, v in metrics.items() if k[0] == "tunebot_validations_total"}
    assert list(verdicts.values()) == [1] and next(iter(verdicts))[0][1] in ("ready", "warnings")
    verdicts = {k[1]: v for k, v in metrics.items() if k[0] == "tunebot_validations_total"}
    assert list(verdicts.values()) == [1] and next(iter(verdicts))[0][1] in ("ready", "warnings")
    assert metrics[("tunebot_validation_seconds_count", ())] == 1
    assert metrics[("tunebot_validation_bytes_total", ())] == len(content)
    assert metrics[("tunebot_slack_api_rate_limited_total", (("method", "chat.postMessage"),))] == 1
    assert metrics[("tunebot_slack_api_calls_total", (("method", "auth.test"),))] >= 2
    for hidden in (info["id"], message["ts"], ALICE, CANARY):
        assert hidden not in text

    lines = json_lines(log)
    tagged = [line for line in lines if line.get("event_id") == EVENT_ID]
    assert tagged, "no log line carries the event's id"
    assert all(line.get("request_id") for line in tagged)
    output = log.read_text()
    for secret in (fake_slack.bot_token, fake_slack.app_token, CANARY):
        assert secret not in output


def test_http_mode_probes_tick_metric_and_text_logs(fake_slack: FakeSlack, tmp_path: Path) -> None:
    port = free_port()
    env = base_env(
        tmp_path,
        **fake_slack.env(),
        SLACK_SIGNING_SECRET="signing-secret-never-logged",
        TUNEBOT_POLL_SECONDS="0.5",
        TUNEBOT_LOG_FORMAT="text",
    )
    log = tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    with running(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log) as process:
        wait_ok(url + "/healthz", process, log)
        ready = httpx.get(url + "/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json() == {"ready": True}

        def ticked() -> dict[Any, float] | None:
            found = samples(httpx.get(url + "/metrics", timeout=10).text)
            return found if found.get(("tunebot_poll_tick_seconds_count", ()), 0) >= 2 else None

        fake_slack.wait_for(ticked, timeout=WAIT, message="two progress ticks measured")
    output = log.read_text()
    assert " INFO " in output and not output.lstrip().startswith("{")
    assert "signing-secret-never-logged" not in output and fake_slack.bot_token not in output


def test_poll_once_logs_json_without_secrets(fake_slack: FakeSlack, tmp_path: Path) -> None:
    env = base_env(tmp_path, **fake_slack.env(), OPENAI_API_KEY="sk-secret-in-env-123456")
    subprocess.run(
        [sys.executable, "-m", "cli.main", "db", "upgrade"], cwd=ROOT, env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "poll", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    log = tmp_path / "poll.log"
    log.write_text(done.stderr)
    assert any(line["logger"] == "bot.background.progress_scheduler" for line in json_lines(log))
    assert "sk-secret-in-env-123456" not in done.stderr + done.stdout


def test_polling_replica_serves_probes_and_its_tick_metric(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    port = free_port()
    env = base_env(tmp_path, **fake_slack.env(), TUNEBOT_POLL_SECONDS="0.5")
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "poll.log"
    with running(["poll", "--host", "127.0.0.1", "--health-port", str(port)], env, log) as process:
        wait_ok(url + "/healthz", process, log)
        # No `tunebot db upgrade` yet: the replica is alive but not ready.
        unready = httpx.get(url + "/readyz", timeout=10)
        assert (
            unready.status_code == 503
            and "tunebot db upgrade" in unready.json()["problems"]["schema"]
        )
        subprocess.run(
            [sys.executable, "-m", "cli.main", "db", "upgrade"], cwd=ROOT, env=env, check=True,
            capture_output=True,
        )  # fmt: skip
        assert httpx.get(url + "/readyz", timeout=10).json() == {"ready": True}

        def ticked() -> dict[Any, float] | None:
            found = samples(httpx.get(url + "/metrics", timeout=10).text)
            return found if found.get(("tunebot_poll_tick_seconds_count", ()), 0) >= 1 else None

        fake_slack.wait_for(ticked, timeout=WAIT, message="a progress tick measured")
    assert process.returncode == 0, log.read_text()
    json_lines(log)
