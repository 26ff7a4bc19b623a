"""Socket Mode end to end: the real ``tunebot serve`` process, slack_sdk's builtin
Socket Mode client, FakeSlack's WebSocket and Web API on loopback.

Why: Socket Mode is the default for firewalled teams; these tests prove serve
gets its WebSocket URL from ``SLACK_API_BASE_URL`` with the app-level token,
acks envelopes within Slack's 3 seconds, and does the work after the ack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.fakeslack.api import FakeSlack
from bot.fakeslack.events import message_event
from bot.fakeslack.socket_mode import ACK_DEADLINE
from tests.bot.flows.test_drop import chat_jsonl
from tests.postgres import bot_database_url

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "C0TUNEBOT"
ALICE = "U0ALICE"
# Generous: importing the bot (slack_bolt, APScheduler, matplotlib) took 16 s of wall time
# on a loaded 2-core machine. A wait, not a speed goal.
WAIT = 90.0


@pytest.fixture
def serve(fake_slack: FakeSlack, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``tunebot serve`` in Socket Mode, connected to ``fake_slack``'s WebSocket."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TUNEBOT_", "OPENAI_", "AZURE_"))
    }
    env.update(fake_slack.socket_env())
    env.update(
        DATABASE_URL=bot_database_url(tmp_path / "serve.db"),
        TUNEBOT_DATA_DIR=str(tmp_path / "data"),
    )
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        fake_slack.wait_for(
            lambda: _alive(process, log_path) and fake_slack.socket_connected(),
            timeout=WAIT,
            message="tunebot serve to connect over Socket Mode",
        )
        yield process
    finally:
        process.terminate()
        process.wait(timeout=15)
    output = log_path.read_text()
    # SIGTERM unwinds: schedulers stop and job claims are released.
    assert process.returncode == 0, output
    assert fake_slack.bot_token not in output and fake_slack.app_token not in output
    assert "Traceback" not in output, output


def _alive(process: subprocess.Popen[str], log_path: Path) -> bool:
    assert process.poll() is None, f"tunebot serve exited:\n{log_path.read_text()}"
    return True


def _connection_calls(fake_slack: FakeSlack) -> list[Any]:
    return fake_slack.calls("apps.connections.open")


def test_file_share_envelope_is_acked_and_the_report_lands_in_the_thread(
    serve: subprocess.Popen[str], fake_slack: FakeSlack
) -> None:
    # serve asked the fake (SLACK_API_BASE_URL) for its WebSocket URL with the app token.
    assert [c.error for c in _connection_calls(fake_slack)] == [None]
    info = fake_slack.add_file("faq.jsonl", chat_jsonl(), user=ALICE, channel=CHANNEL)
    channel, message = fake_slack.file_message(info["id"])
    envelope_id = fake_slack.socket_send_event(message_event(channel, message))

    ack = fake_slack.wait_for_ack(envelope_id)
    assert ack.payload is None and 0 <= ack.seconds < ACK_DEADLINE

    def report() -> list[dict[str, Any]]:
        thread = fake_slack.bot_messages(CHANNEL, message["ts"])
        return [m for m in thread if m.get("blocks") and not m.get("files")]

    (posted,) = fake_slack.wait_for(report, timeout=WAIT, message="the report in the thread")
    assert "Ready to fine-tune" in posted["text"]
    assert " examples · " in json.dumps(posted["blocks"], ensure_ascii=False)
    assert [a.envelope_id for a in fake_slack.acks()] == [envelope_id]


def test_finetune_commands_are_acked_and_answered(
    serve: subprocess.Popen[str], fake_slack: FakeSlack
) -> None:
    help_id = fake_slack.socket_send_command("help", user_id=ALICE, channel_id=CHANNEL)
    help_ack = fake_slack.wait_for_ack(help_id)
    # help acks empty, then answers through the response_url after the ack.
    assert help_ack.payload is None and 0 <= help_ack.seconds < ACK_DEADLINE
    (reply,) = fake_slack.wait_for(
        lambda: fake_slack.responses(CHANNEL, ALICE), timeout=WAIT, message="the help reply"
    )
    assert "/finetune start" in reply["text"] and reply.get("response_type") == "ephemeral"

    # Unknown input is answered in the ack itself: the payload carries the usage text.
    bad_id = fake_slack.socket_send_command("frobnicate", user_id=ALICE, channel_id=CHANNEL)
    bad_ack = fake_slack.wait_for_ack(bad_id)
    assert bad_ack.payload is not None and "frobnicate" in bad_ack.payload["text"]
    assert "/finetune help" in bad_ack.payload["text"]
    assert len(fake_slack.responses(CHANNEL, ALICE)) == 1
