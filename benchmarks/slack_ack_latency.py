"""How fast does the HTTP-mode bot acknowledge Slack, and how fast is a report?

Starts FakeSlack and FakeOpenAI on loopback, then the bot as its own process
(``tunebot serve`` under uvicorn, as in production) and, for comparison in the
same run, bolt's built-in development server (``App.start()``). Against each:

* 200 signed ``/finetune list`` commands and 200 "Fine-tune on worker" button
  clicks, 20 in flight at a time; prints median and p99 time to the HTTP 200
  ack (Slack allows 3,000 ms; goal p99 < 200 ms);
* (uvicorn only) a 10 MB chat JSONL dropped on the fake Slack: seconds from
  the event to the report in the file's thread (goal < 3 s).

Output: one JSON line per server and one for the drop.

    .venv/bin/python benchmarks/slack_ack_latency.py [--requests 200] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.fakeslack.api import FakeSlack  # noqa: E402
from bot.fakeslack.events import (  # noqa: E402
    block_actions_payload,
    event_callback,
    message_event,
    sign,
    slash_command_form,
)
from tests.fakes.openai_api import FakeOpenAI  # noqa: E402

SECRET = "benchmark-signing-secret-0123456789"
CHANNEL = "C0TUNEBOT"
USER = "U0ALICE"
BOLT_DEV_SERVER = """
import sys
from bot.app import build_app, build_context
from core.config import load_settings
ctx = build_context(load_settings())
build_app(ctx).start(port=int(sys.argv[1]), path="/slack/events")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def chat_jsonl(target_bytes: int) -> bytes:
    lines, size, i = [], 0, 0
    while size < target_bytes:
        line = json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You are a helpful support agent for tunebot."},
                    {"role": "user", "content": " ".join([f"Question {i}: model {i % 7}?"] * 3)},
                    {"role": "assistant", "content": " ".join([f"Answer {i}: drop it."] * 6)},
                ]
            }
        )
        lines.append(line)
        size += len(line) + 1
        i += 1
    return ("\n".join(lines) + "\n").encode()


class BotProcess:
    """The bot as a child process with its own database, pointed at the fakes."""

    def __init__(self, kind: str, slack: FakeSlack, openai_api: FakeOpenAI, workdir: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            **slack.env(),
            **openai_api.env(),
            "TUNEBOT_WORKER_URL": openai_api.url,
            "TUNEBOT_WORKER_API_KEY": openai_api.api_key,
            "SLACK_SIGNING_SECRET": SECRET,
            "DATABASE_URL": f"sqlite:///{workdir / (kind + '.db')}",
            "TUNEBOT_DATA_DIR": str(workdir / f"data-{kind}"),
            "TUNEBOT_POLL_SECONDS": "3600",
        }
        env.pop("SLACK_APP_TOKEN", None)
        python = sys.executable
        if kind == "uvicorn":
            args = [python, "-m", "cli.main", "serve", "--host", "127.0.0.1"]
            args += ["--port", str(self.port)]
        else:
            args = [python, "-c", BOLT_DEV_SERVER, str(self.port)]
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bot exited with {self.process.returncode}")
            try:
                # An unsigned POST is answered 401 once the app is up.
                if httpx.post(self.url, content=b"{}", timeout=1).status_code == 401:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("bot did not start")

    def cpu_seconds(self) -> float:
        """CPU time the bot process (all its threads) has used so far."""
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def post_signed(client: httpx.Client, url: str, body: bytes, content_type: str) -> float | None:
    """Milliseconds to an HTTP 200; None when the server failed the request."""
    headers = {"Content-Type": content_type, **sign(body, signing_secret=SECRET)}
    started = time.perf_counter()
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError:
        return None
    elapsed = time.perf_counter() - started
    return elapsed * 1000 if response.status_code == 200 else None


def command_body(slack: FakeSlack) -> bytes:
    url = slack.new_response_url(kind="commands", channel=CHANNEL, user=USER)
    form = slash_command_form("list", user_id=USER, channel_id=CHANNEL, response_url=url)
    return urlencode(form).encode()


def click_body(short_id: str, message: dict[str, Any]) -> bytes:
    payload = block_actions_payload(
        "start_job:worker", user_id=USER, value=short_id, channel_id=CHANNEL, message=message
    )
    return urlencode({"payload": json.dumps(payload)}).encode()


def fire(url: str, bodies: list[tuple[bytes, str]], concurrency: int) -> list[float | None]:
    """Send the bodies, ``concurrency`` at a time (a pool of kept-alive connections)."""
    limits = httpx.Limits(max_connections=concurrency)
    with httpx.Client(timeout=10, limits=limits) as client, ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda item: post_signed(client, url, *item), bodies))


def drop(
    slack: FakeSlack, bot: BotProcess, name: str, content: bytes
) -> tuple[dict[str, Any], float]:
    """Send a file_share event; return the report message and seconds until it was posted."""
    info = slack.add_file(name, content, user=USER, channel=CHANNEL)
    channel, message = slack.file_message(info["id"])
    body = json.dumps(event_callback(message_event(channel, message))).encode()
    started = time.perf_counter()
    with httpx.Client(timeout=10) as client:
        if post_signed(client, bot.url, body, "application/json") is None:
            raise RuntimeError("the file_share event was not acknowledged")

    def report() -> list[dict[str, Any]]:
        return [m for m in slack.bot_messages(CHANNEL, message["ts"]) if m.get("blocks")]

    found = slack.wait_for(report, timeout=60, interval=0.01, message="the report")
    return found[0], time.perf_counter() - started


def summary(results: list[float | None]) -> dict[str, float]:
    values = [v for v in results if v is not None]
    if not values:
        return {"failed": len(results)}
    return {
        "median_ms": round(statistics.median(values), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "max_ms": round(max(values), 1),
        "failed": len(results) - len(values),
    }


def validate_only(content: bytes, workdir: Path) -> float:
    """Seconds core validation alone takes on the same file, for the bot's overhead."""
    from core.config import Settings
    from core.validation import validate_file

    path = workdir / "validate-only.jsonl"
    path.write_bytes(content)
    started = time.perf_counter()
    validate_file(path, settings=Settings(_env_file=None))  # type: ignore[call-arg]
    return time.perf_counter() - started


def measure(
    kind: str, slack: FakeSlack, openai_api: FakeOpenAI, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    bot = BotProcess(kind, slack, openai_api, workdir)
    try:
        report, _ = drop(slack, bot, f"seed-{kind}.jsonl", chat_jsonl(20_000))
        actions = next(b for b in report["blocks"] if b["type"] == "actions")
        short_id = actions["elements"][0]["value"]
        form = "application/x-www-form-urlencoded"
        warmup = [(command_body(slack), form) for _ in range(20)]
        fire(bot.url, warmup, args.concurrency)
        n, concurrency = args.requests, args.concurrency
        cpu = bot.cpu_seconds()
        commands = fire(bot.url, [(command_body(slack), form) for _ in range(n)], concurrency)
        time.sleep(1)  # let the work after each ack finish before counting CPU
        cpu_commands, cpu = bot.cpu_seconds() - cpu, bot.cpu_seconds()
        clicks = fire(
            bot.url, [(click_body(short_id, report), form) for _ in range(n)], concurrency
        )
        time.sleep(1)
        cpu_clicks = bot.cpu_seconds() - cpu
        result: dict[str, Any] = {
            "server": kind,
            "requests": args.requests,
            "concurrency": args.concurrency,
            "slash_commands": summary(commands),
            "button_clicks": summary(clicks),
            "all": summary(commands + clicks),
            # Bot CPU per request, ack and the work after it (Slack calls, database).
            "bot_cpu_ms_per_command": round(cpu_commands / n * 1000, 1),
            "bot_cpu_ms_per_click": round(cpu_clicks / n * 1000, 1),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        if kind == "uvicorn":
            content = chat_jsonl(10 * 1024 * 1024)
            _, seconds = drop(slack, bot, "big.jsonl", content)
            result["drop_10mb"] = {
                "bytes": len(content),
                "report_seconds": round(seconds, 2),
                "validate_file_only_seconds": round(validate_only(content, workdir), 2),
            }
        return result
    finally:
        bot.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--servers", default="uvicorn,bolt-dev")
    args = parser.parse_args()
    with (
        FakeSlack(trigger_ttl=None) as slack,
        FakeOpenAI() as openai_api,
        tempfile.TemporaryDirectory() as tmp,
    ):
        slack.add_channel(CHANNEL, name="fine-tuning")
        slack.add_user(USER, name="alice")
        for kind in args.servers.split(","):
            print(json.dumps(measure(kind, slack, openai_api, Path(tmp), args)), flush=True)


if __name__ == "__main__":
    main()
