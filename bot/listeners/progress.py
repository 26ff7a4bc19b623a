"""The Cancel button on a job's progress message."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.jobs import provider_title
from bot.blocks.progress import CANCEL_ACTION_ID
from bot.context import BotContext
from core.errors import TunebotError
from core.store.jobs import find_job
from core.training.cancel import cancel_job


def _tell(ctx: BotContext, body: dict[str, Any], text: str) -> None:
    """An ephemeral note to the person who pressed the button, in the job's thread."""
    message = body.get("message") or {}
    ctx.client.chat_postEphemeral(
        channel=body["channel"]["id"],
        user=body["user"]["id"],
        text=text,
        thread_ts=message.get("thread_ts") or message.get("ts"),
    )


def cancel_from_button(ctx: BotContext, body: dict[str, Any]) -> None:
    """Check who pressed, cancel at the provider, tell them the outcome (runs after the ack)."""
    user_id = body["user"]["id"]
    short_id = str(body["actions"][0].get("value") or "")
    if not ctx.authorizer.is_allowed(user_id):
        _tell(ctx, body, ctx.authorizer.refusal())
        return
    job = find_job(ctx.engine, ref=short_id) if short_id else None
    if job is None:
        _tell(ctx, body, f":warning: There is no job `{short_id}` any more.")
        return
    try:
        job = cancel_job(ctx.engine, job, providers=ctx.providers, user_id=user_id)
    except TunebotError as error:
        _tell(ctx, body, f":warning: {error.user_message()}")
        return
    _tell(
        ctx,
        body,
        f"Cancelling job `{job.short_id}` on {provider_title(job.provider)}; the thread will say "
        "when the provider has stopped it.",
    )


def register(app: App, ctx: BotContext) -> None:
    """Ack at once; the provider call runs on the bot's background pool."""

    def on_cancel(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        ctx.submit(cancel_from_button, ctx, body)

    app.action(CANCEL_ACTION_ID)(on_cancel)
