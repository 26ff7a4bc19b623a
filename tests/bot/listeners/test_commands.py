"""/finetune dispatch, called directly with Mock(Ack)/Mock(Respond)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import Mock

import pytest
from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from bot.context import BotContext
from bot.listeners.commands import handle_finetune
from bot.listeners.commands.help import all_commands
from tests.bot.harness import ALICE, BOB, CHANNEL, add_dataset_row, unit_context


@pytest.fixture
def ctx(tmp_path: Path) -> BotContext:
    return unit_context(tmp_path, client=Mock(WebClient), admins=(ALICE,))


def run(ctx: BotContext, text: str, *, user: str = ALICE) -> tuple[Mock, Mock]:
    ack, respond = Mock(Ack), Mock(Respond)
    command: dict[str, Any] = {
        "text": text,
        "user_id": user,
        "channel_id": CHANNEL,
        "trigger_id": "1.2.3",
    }
    handle_finetune(ctx, all_commands(), ack=ack, command=command, respond=respond)
    ctx.pool.shutdown(wait=True)  # the reply is sent from the pool after the ack
    return ack, respond


def test_unknown_subcommand_gets_usage_in_the_ack(ctx: BotContext) -> None:
    ack, respond = run(ctx, "frobnicate now")
    text = ack.call_args.kwargs["text"]
    assert "frobnicate" in text and "/finetune help" in text
    respond.assert_not_called()


def test_bad_quoting_is_a_usage_error_not_a_crash(ctx: BotContext) -> None:
    ack, _ = run(ctx, 'start "unclosed')
    assert "Could not read the arguments" in ack.call_args.kwargs["text"]


def test_empty_text_is_help(ctx: BotContext) -> None:
    ack, respond = run(ctx, "")
    ack.assert_called_once_with()
    reply = respond.call_args.kwargs
    assert reply["response_type"] == "ephemeral"
    for name in ("start", "status", "list", "cancel", "models"):
        assert f"/finetune {name}" in reply["text"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("start", "Expected 1 argument"),
        ("start ds-1 --epochs many", "`--epochs many`"),
        ("start ds-1 --nope 1", "Unknown option `--nope`"),
        ("start ds-1 --epochs 2 --epochs 3", "given twice"),
        ("start ds-missing", "No dataset `ds-missing`"),
        ("cancel", "exactly one job id"),
        ("status a b", "at most one job id"),
        ("list extra", "takes no arguments"),
    ],
)
def test_malformed_input_gets_a_short_ephemeral_usage(
    ctx: BotContext, text: str, expected: str
) -> None:
    _, respond = run(ctx, text)
    reply = respond.call_args.kwargs
    assert expected in reply["text"] and "Usage:" in reply["text"]
    assert reply["response_type"] == "ephemeral"
    assert "Traceback" not in reply["text"]


def test_unauthorised_start_is_refused(ctx: BotContext) -> None:
    add_dataset_row(ctx)
    _, respond = run(ctx, "start ds-000001", user=BOB)
    assert "Only tunebot admins" in respond.call_args.kwargs["text"]


def test_start_with_unconfigured_provider(ctx: BotContext) -> None:
    add_dataset_row(ctx)
    _, respond = run(ctx, "start ds-000001 --provider azure")
    assert "not configured" in respond.call_args.kwargs["text"]


def test_list_and_status_read_the_channel(ctx: BotContext) -> None:
    add_dataset_row(ctx)
    _, respond = run(ctx, "list")
    assert "`ds-000001` faq.jsonl" in respond.call_args.kwargs["text"]


def test_models_without_providers_says_what_to_set(tmp_path: Path) -> None:
    ctx = unit_context(tmp_path, client=Mock(WebClient))
    _, respond = run(ctx, "models")
    assert "TUNEBOT_WORKER_URL" in respond.call_args.kwargs["text"]


def test_a_bug_in_a_subcommand_is_logged_not_shown(
    ctx: BotContext, caplog: pytest.LogCaptureFixture
) -> None:
    commands = all_commands()
    commands["list"].handle = Mock(side_effect=RuntimeError("boom"))
    ack, respond = Mock(Ack), Mock(Respond)
    command = {"text": "list", "user_id": ALICE, "channel_id": CHANNEL}
    handle_finetune(ctx, commands, ack=ack, command=command, respond=respond)
    ctx.pool.shutdown(wait=True)
    assert "logged for the admins" in respond.call_args.kwargs["text"]
    assert "boom" not in respond.call_args.kwargs["text"]
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)


def test_datasets_and_jobs_of_other_channels_stay_there(ctx: BotContext) -> None:
    add_dataset_row(ctx, channel_id="C0PRIVATE")
    _, respond = run(ctx, "start ds-000001 --provider worker")
    assert "was dropped in <#C0PRIVATE>" in respond.call_args.kwargs["text"]
