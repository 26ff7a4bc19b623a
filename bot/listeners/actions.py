"""The report's "Fine-tune on …" buttons: check the person, open the start modal."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.report import START_ACTION_PREFIX
from bot.blocks.start_modal import build_start_modal
from bot.context import BotContext
from bot.slack_ops import tell_user
from core.errors import ProviderError
from core.store.datasets import Dataset, find_dataset

logger = logging.getLogger(__name__)


def default_model(
    ctx: BotContext, provider: str, dataset: Dataset, models: list[str]
) -> str | None:
    """The model the report was computed for when the provider offers it, else the first."""
    for candidate in (dataset.model, ctx.settings.default_model):
        if candidate in models:
            return candidate
    return models[0] if models else (dataset.model if provider != "worker" else None)


def on_start_button(ctx: BotContext, *, ack: Ack, body: dict[str, Any]) -> None:
    """Ack, then open the modal in the background (within the trigger's 3 seconds)."""
    ack()
    ctx.submit(open_start_modal, ctx, body)


def open_start_modal(ctx: BotContext, body: dict[str, Any]) -> None:
    action = body["actions"][0]
    provider = str(action["action_id"])[len(START_ACTION_PREFIX) :]
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id") or ""
    thread_ts = (body.get("message") or {}).get("thread_ts")
    if not ctx.authorizer.is_allowed(user):
        tell_user(
            ctx.client,
            channel=channel,
            user=user,
            text=ctx.authorizer.refusal(),
            thread_ts=thread_ts,
        )
        return
    dataset = find_dataset(ctx.engine, ref=str(action.get("value") or ""))
    if dataset is None or provider not in ctx.providers:
        tell_user(
            ctx.client,
            channel=channel,
            user=user,
            text="That dataset or provider is no longer available; drop the file again.",
            thread_ts=thread_ts,
        )
        return
    try:
        models = ctx.model_lists.get(ctx.providers[provider])
    except ProviderError as exc:
        logger.warning("listing %s models failed: %s", provider, exc.message)
        models = []
    metadata = json.dumps({"dataset": dataset.short_id, "provider": provider})
    view = build_start_modal(
        provider=provider,
        dataset_short_id=dataset.short_id,
        file_name=dataset.file_name,
        models=models,
        default_model=default_model(ctx, provider, dataset, models),
        private_metadata=metadata,
    )
    ctx.client.views_open(trigger_id=body["trigger_id"], view=view)


def register(app: App, ctx: BotContext) -> None:
    @app.action(re.compile("^" + re.escape(START_ACTION_PREFIX)))
    def start_button(ack: Ack, body: dict[str, Any]) -> None:
        on_start_button(ctx, ack=ack, body=body)
