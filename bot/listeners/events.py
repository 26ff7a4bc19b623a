"""Message events: dataset drops (subtype ``file_share``) and prompts in A/B threads.

Bolt acknowledges events before the listener runs (HTTP 200 at once). The
listener then records the ``event_id``: a retry (``X-Slack-Retry-Num``) or a
duplicate delivery finds it recorded and does nothing, so one drop is one
report. The work itself goes to the background pool.

Thread replies are claimed only when they belong to an open A/B session (a
matcher), so other messages fall through to the fallbacks registered last.
"""

from __future__ import annotations

import itertools
import logging
from datetime import timedelta
from typing import Any

from slack_bolt import App

from bot.context import BotContext
from bot.flows.ab import prompt_event, submit_prompt
from bot.flows.drop import FileDrop, parse_drop, process_drop
from core.evaluation.sessions import session_for_thread
from core.store.datasets import purge_events, record_event

logger = logging.getLogger(__name__)
_recorded = itertools.count(1)


# Event ids are kept this long: Slack retries within minutes, so a day is plenty.
KEEP_EVENTS = timedelta(days=1)
PURGE_EVERY = 500


def handle_file_share(ctx: BotContext, body: dict[str, Any]) -> bool:
    """Queue the drop for validation; False when it is not one, or was seen before."""
    drop = parse_drop(body)
    if drop is None:
        return False
    if not record_event(ctx.engine, event_id=drop.event_id):
        logger.info("event %s already handled; skipping the retry", drop.event_id)
        return False
    if next(_recorded) % PURGE_EVERY == 0:
        purge_events(ctx.engine, older_than=KEEP_EVENTS)
    ctx.validation_pool.submit(_run, ctx, drop)
    return True


def _run(ctx: BotContext, drop: FileDrop) -> None:
    try:
        process_drop(ctx, drop)
    except Exception:
        logger.exception("processing drop %s failed", drop.event_id)


def register(app: App, ctx: BotContext) -> None:
    @app.event({"type": "message", "subtype": "file_share"})
    def on_file_share(body: dict[str, Any]) -> None:
        handle_file_share(ctx, body)

    def in_session_thread(event: dict[str, Any]) -> bool:
        if not prompt_event(event):
            return False
        return (
            session_for_thread(ctx.engine, event["channel"], event["thread_ts"], team_id=ctx.team)
            is not None
        )

    def on_prompt(event: dict[str, Any]) -> None:
        session = session_for_thread(
            ctx.engine, event["channel"], event["thread_ts"], team_id=ctx.team
        )
        if session is not None:
            submit_prompt(ctx, session, event)

    app.event({"type": "message"}, matchers=[in_session_thread])(on_prompt)
