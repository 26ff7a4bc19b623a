"""The start modal's submission: field errors in the ack, the job after it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import Mock

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.listeners.views import parse_submission, submit_start_modal
from core.training.start import JobOptions
from tests.bot.harness import ALICE, unit_context


def _select(value: str) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value}}


def _view(provider: str = "worker", **values: dict[str, Any]) -> dict[str, Any]:
    state = {
        "base_model": {"base_model": _select("Qwen/Qwen2.5-0.5B-Instruct")},
        "epochs": {"epochs": _select("auto")},
        "suffix": {"suffix": {"type": "plain_text_input", "value": None}},
        "validation_split": {"validation_split": _select("0.1")},
        "lora_r": {"lora_r": _select("32")},
        "load_in_4bit": {"load_in_4bit": _select("off")},
    }
    state.update({k: {k: v} for k, v in values.items()})
    meta = json.dumps({"dataset": "ds-000001", "provider": provider})
    return {"id": "V1", "private_metadata": meta, "state": {"values": state}}


def test_parse_submission_reads_every_field() -> None:
    assert parse_submission(_view()) == JobOptions(
        provider="worker",
        base_model="Qwen/Qwen2.5-0.5B-Instruct",
        n_epochs=None,
        suffix=None,
        validation_split=0.1,
        lora_r=32,
        load_in_4bit=False,
    )


def test_bad_suffix_is_shown_under_the_field(tmp_path: Path) -> None:
    ctx = unit_context(tmp_path, client=Mock(WebClient), admins=(ALICE,))
    ctx.submit = Mock()
    ack = Mock(Ack)
    view = _view(suffix={"type": "plain_text_input", "value": "has spaces!"})
    submit_start_modal(ctx, ack=ack, body={"user": {"id": ALICE}}, view=view)
    kwargs = ack.call_args.kwargs
    assert kwargs["response_action"] == "errors" and "suffix" in kwargs["errors"]
    ctx.submit.assert_not_called()


def test_tampered_form_is_refused_not_crashed(tmp_path: Path) -> None:
    ctx = unit_context(tmp_path, client=Mock(WebClient))
    ack = Mock(Ack)
    submit_start_modal(
        ctx, ack=ack, body={"user": {"id": ALICE}}, view=_view(epochs=_select("many"))
    )
    assert ack.call_args.kwargs["response_action"] == "errors"


def test_good_submission_closes_the_modal_then_starts(tmp_path: Path) -> None:
    ctx = unit_context(tmp_path, client=Mock(WebClient), admins=(ALICE,))
    ctx.submit = Mock()
    ack = Mock(Ack)
    submit_start_modal(ctx, ack=ack, body={"user": {"id": ALICE}}, view=_view())
    ack.assert_called_once_with()
    ctx.submit.assert_called_once()
