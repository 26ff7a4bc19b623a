"""A/B sessions in Slack: the "Start A/B test" button, prompts in a session's thread, votes.

Each handler acks at once and hands the slow part (model calls, Slack posts)
to the bot's background pool. Thread replies are claimed only when they belong
to an open session (a matcher), so other messages fall through to the
listeners registered after this one.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import Future
from typing import Any

from slack_bolt import Ack, App

from bot.ab_sessions import (
    link_text,
    prompt_event,
    record_vote,
    request_for_job,
    start_session,
    submit_prompt,
)
from bot.blocks.ab import VOTE_ACTION_PREFIX
from bot.blocks.progress import AB_START_ACTION_ID
from bot.context import BotContext
from core.errors import TunebotError
from core.evaluation.sessions import session_for_thread
from core.store.jobs import find_job

logger = logging.getLogger(__name__)

VOTE_ACTION = re.compile("^" + VOTE_ACTION_PREFIX + "(a|b|tie|both_bad)$")


def _tell(ctx: BotContext, channel: str, user: str, text: str, thread_ts: str | None) -> None:
    ctx.client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)


def start_from_button(ctx: BotContext, body: dict[str, Any]) -> None:
    """One session per job from its button; later clicks point to the existing one."""
    user = body["user"]["id"]
    channel = body["channel"]["id"]
    thread = (body.get("message") or {}).get("thread_ts")
    short_id = str(body["actions"][0].get("value") or "")
    if not ctx.authorizer.is_allowed(user):
        _tell(ctx, channel, user, ctx.authorizer.refusal(), thread)
        return
    job = find_job(ctx.engine, ref=short_id)
    if job is None:
        _tell(ctx, channel, user, f"Job `{short_id}` no longer exists.", thread)
        return
    try:
        request = request_for_job(
            job, request_id=f"button:{job.short_id}", channel_id=job.channel_id, user_id=user
        )
        session, created = start_session(ctx, request)
    except TunebotError as exc:
        _tell(ctx, channel, user, f":warning: {exc.user_message()}", thread)
        return
    if not created:
        _tell(ctx, channel, user, f"This job already has {link_text(session)}.", thread)


def vote_from_button(ctx: BotContext, body: dict[str, Any]) -> None:
    action = body["actions"][0]
    match = VOTE_ACTION.match(str(action.get("action_id")))
    value = str(action.get("value") or "")
    if match is None or not value.isdigit():
        logger.warning("malformed A/B vote action: %s", action.get("action_id"))
        return
    record_vote(
        ctx,
        prompt_id=int(value),
        user_id=body["user"]["id"],
        choice=match.group(1),
        channel_id=body["channel"]["id"],
    )


def _log_failure(future: Future[Any]) -> None:
    error = future.exception()
    if error is not None:
        logger.error("A/B background work failed", exc_info=error)


def register(app: App, ctx: BotContext) -> None:
    """Wire the button, the votes and the thread replies of open sessions."""

    def in_session_thread(event: dict[str, Any]) -> bool:
        if not prompt_event(event):
            return False
        return session_for_thread(ctx.engine, event["channel"], event["thread_ts"]) is not None

    def on_prompt(event: dict[str, Any]) -> None:
        session = session_for_thread(ctx.engine, event["channel"], event["thread_ts"])
        if session is not None:
            submit_prompt(ctx, session, event)

    def on_start(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        ctx.pool.submit(start_from_button, ctx, body).add_done_callback(_log_failure)

    def on_vote(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        ctx.pool.submit(vote_from_button, ctx, body).add_done_callback(_log_failure)

    app.event({"type": "message"}, matchers=[in_session_thread])(on_prompt)
    app.action(AB_START_ACTION_ID)(on_start)
    app.action(VOTE_ACTION)(on_vote)
