"""The start modal's submission: check the fields, close the modal, start the job.

Field mistakes are answered inside the ack (``response_action="errors"``) so the
modal stays open with the message under the field; everything else happens
after the ack. The view id is the request id: a retried submission of the
same modal cannot start a second job.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.ids import START_MODAL_CALLBACK_ID
from bot.blocks.limits import truncate
from bot.blocks.start_modal import AUTO
from bot.context import BotContext
from bot.flows.start import budget_refusal, start_from_submission
from core.training.start import JobOptions


def _value(values: dict[str, Any], block_id: str) -> str | None:
    state = (values.get(block_id) or {}).get(block_id) or {}
    if state.get("selected_option"):
        return str(state["selected_option"]["value"])
    raw = state.get("value")
    return str(raw).strip() if raw not in (None, "") else None


def parse_submission(view: dict[str, Any]) -> JobOptions:
    """The modal's values as JobOptions.

    Raises:
        TrainingError: a field is invalid (its ``hint`` names the block id).
    """
    meta = json.loads(view.get("private_metadata") or "{}")
    values = view["state"]["values"]
    provider = str(meta.get("provider", ""))
    epochs = _value(values, "epochs")
    split = _value(values, "validation_split")
    lora = _value(values, "lora_r")
    four_bit = _value(values, "load_in_4bit")
    beta = _value(values, "beta")
    options = JobOptions(
        provider=provider,
        base_model=_value(values, "base_model") or "",
        n_epochs=None if epochs in (None, AUTO) else int(epochs),
        suffix=_value(values, "suffix"),
        validation_split=None if split in (None, "none") else float(split),
        lora_r=int(lora) if provider == "worker" and lora else None,
        load_in_4bit=None if four_bit in (None, AUTO) else four_bit == "on",
        method=str(meta.get("method") or "supervised"),
        beta=None if beta in (None, AUTO) else float(beta),
    )
    return options


# Slack shows a field error up to this length.
MAX_VIEW_ERROR = 2000
# Modal block ids for JobOptions fields whose names differ.
_BLOCKS = {"n_epochs": "epochs"}


def field_errors(options: JobOptions) -> dict[str, str]:
    """Errors to show under the fields (Slack's ``response_action: errors``)."""
    return {_BLOCKS.get(name, name): text for name, text in options.problems().items()}


def submit_start_modal(
    ctx: BotContext, *, ack: Ack, body: dict[str, Any], view: dict[str, Any]
) -> None:
    try:
        options = parse_submission(view)
    except (KeyError, ValueError, TypeError):
        ack(
            response_action="errors",
            errors={"base_model": "I could not read this form; open it again."},
        )
        return
    errors = field_errors(options)
    meta = json.loads(view.get("private_metadata") or "{}")
    if not errors:
        # A few quick queries; refused here the form is kept, with the reason under the model.
        over = budget_refusal(ctx, str(meta.get("dataset", "")), options)
        if over:
            errors = {"base_model": truncate(over, MAX_VIEW_ERROR)}
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()
    ctx.submit(
        partial(
            start_from_submission,
            ctx,
            dataset_ref=str(meta.get("dataset", "")),
            user=body["user"]["id"],
            view_id=view["id"],
            team_id=(body.get("team") or {}).get("id"),
            options=options,
        )
    )


def register(app: App, ctx: BotContext) -> None:
    @app.view(START_MODAL_CALLBACK_ID)
    def on_start_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submit_start_modal(ctx, ack=ack, body=body, view=view)
