"""The start buttons: authorisation, then the modal with the provider's models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import Mock

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.listeners.actions import on_start_button, start_button_clicked
from core.errors import ProviderTimeout
from core.providers import Provider
from tests.bot.harness import ALICE, BOB, CHANNEL, add_dataset_row, unit_context


def _click(user: str, provider: str = "openai") -> dict[str, Any]:
    return {
        "user": {"id": user},
        "trigger_id": "123.456.abc",
        "channel": {"id": CHANNEL},
        "message": {"ts": "101.0", "thread_ts": "100.1"},
        "actions": [{"action_id": f"start_job:{provider}", "value": "ds-000001"}],
    }


def _model_block(view: dict[str, Any]) -> dict[str, Any]:
    (block,) = [b for b in view["blocks"] if b.get("block_id") == "base_model"]
    return block


def _ctx(tmp_path: Path, provider: Mock) -> Any:
    ctx = unit_context(
        tmp_path, client=Mock(WebClient), providers={"openai": provider}, admins=(ALICE,)
    )
    add_dataset_row(ctx)
    return ctx


def test_button_acks_before_any_work(tmp_path: Path) -> None:
    provider = Mock(Provider)
    ctx = _ctx(tmp_path, provider)
    ctx.submit = Mock()
    ack = Mock(Ack)
    on_start_button(ctx, ack=ack, body=_click(ALICE))
    ack.assert_called_once_with()
    ctx.submit.assert_called_once()
    provider.list_models.assert_not_called()


def test_allowed_user_gets_the_modal_with_models(tmp_path: Path) -> None:
    provider = Mock(Provider)
    provider.name = "openai"
    provider.list_models.return_value = ["gpt-4.1-mini-2025-04-14", "gpt-4o-mini-2024-07-18"]
    ctx = _ctx(tmp_path, provider)
    start_button_clicked(ctx, _click(ALICE))
    kwargs = ctx.client.views_open.call_args.kwargs
    assert kwargs["trigger_id"] == "123.456.abc"
    view = kwargs["view"]
    assert json.loads(view["private_metadata"]) == {
        "dataset": "ds-000001",
        "provider": "openai",
        "method": "supervised",
    }
    model = _model_block(view)["element"]
    assert model["initial_option"]["value"] == "gpt-4o-mini-2024-07-18"  # the report's model
    start_button_clicked(ctx, _click(ALICE))
    assert provider.list_models.call_count == 1  # cached


def test_refused_user_gets_an_ephemeral_and_no_modal(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, Mock(Provider))
    start_button_clicked(ctx, _click(BOB))
    kwargs = ctx.client.chat_postEphemeral.call_args.kwargs
    assert kwargs["user"] == BOB and kwargs["channel"] == CHANNEL and kwargs["thread_ts"] == "100.1"
    assert "Only tunebot admins" in kwargs["text"]
    ctx.client.views_open.assert_not_called()


def test_provider_down_still_opens_a_modal_with_a_text_field(tmp_path: Path) -> None:
    provider = Mock(Provider)
    provider.name = "openai"
    provider.list_models.side_effect = ProviderTimeout("down", provider="openai")
    ctx = _ctx(tmp_path, provider)
    start_button_clicked(ctx, _click(ALICE))
    view = ctx.client.views_open.call_args.kwargs["view"]
    assert _model_block(view)["element"]["type"] == "plain_text_input"


def test_unknown_provider_is_explained(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, Mock(Provider))
    start_button_clicked(ctx, _click(ALICE, provider="azure"))
    assert "no longer available" in ctx.client.chat_postEphemeral.call_args.kwargs["text"]
