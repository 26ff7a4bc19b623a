"""Button clicks: start a job (opens the modal), cancel a job, start an A/B test, vote,
train on an A/B test's votes.

Each callback acks at once and hands the flow to the bot's background pool,
so bolt's threads only acknowledge.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.ids import (
    AB_RESULTS_ACTION_ID,
    AB_START_ACTION_ID,
    CANCEL_ACTION_ID,
    HOME_REFRESH_ACTION_ID,
    START_ACTION_PREFIX,
    TRAIN_ON_VOTES_ACTION_ID,
    VALIDATE_FIXED_ACTION_ID,
    VOTE_ACTION_PREFIX,
)
from bot.context import BotContext, log_failure
from bot.flows import ab, drop, start, votes
from bot.flows.home import publish_home

logger = logging.getLogger(__name__)

VOTE_ACTION = re.compile("^" + VOTE_ACTION_PREFIX + "(a|b|tie|both_bad)$")


def _where(body: dict[str, Any]) -> dict[str, Any]:
    """Who clicked, in which channel, and the thread to answer in."""
    message = body.get("message") or {}
    return {
        "user": body["user"]["id"],
        "channel": (body.get("channel") or {}).get("id") or "",
        "thread_ts": message.get("thread_ts"),
    }


def on_start_button(ctx: BotContext, *, ack: Ack, body: dict[str, Any]) -> None:
    """Ack, then open the modal in the background (within the trigger's 3 seconds)."""
    ack()
    ctx.submit(start_button_clicked, ctx, body)


def start_button_clicked(ctx: BotContext, body: dict[str, Any]) -> None:
    action = body["actions"][0]
    start.open_start_modal(
        ctx,
        provider=str(action["action_id"])[len(START_ACTION_PREFIX) :],
        dataset_ref=str(action.get("value") or ""),
        trigger_id=body["trigger_id"],
        **_where(body),
    )


def cancel_button_clicked(ctx: BotContext, body: dict[str, Any]) -> None:
    message = body.get("message") or {}
    start.cancel_from_button(
        ctx,
        short_id=str(body["actions"][0].get("value") or ""),
        user=body["user"]["id"],
        # A click on App Home has no channel; the home is republished when the job changes.
        channel=(body.get("channel") or {}).get("id") or "",
        thread_ts=message.get("thread_ts") or message.get("ts"),
    )


def home_refresh_clicked(ctx: BotContext, body: dict[str, Any]) -> None:
    publish_home(ctx.client, ctx.engine, user_id=body["user"]["id"])


def ab_start_clicked(ctx: BotContext, body: dict[str, Any]) -> None:
    ab.start_from_button(ctx, short_id=str(body["actions"][0].get("value") or ""), **_where(body))


def train_on_votes_clicked(ctx: BotContext, body: dict[str, Any]) -> None:
    votes.train_on_votes(
        ctx,
        session_ref=str(body["actions"][0].get("value") or ""),
        team_id=(body.get("team") or {}).get("id"),
        **_where(body),
    )


def ab_results_clicked(ctx: BotContext, body: dict[str, Any]) -> None:
    ab.results_from_button(ctx, short_id=str(body["actions"][0].get("value") or ""), **_where(body))


def validate_fixed_clicked(ctx: BotContext, body: dict[str, Any]) -> None:
    drop.validate_fixed(ctx, short_id=str(body["actions"][0].get("value") or ""), **_where(body))


def vote_clicked(ctx: BotContext, body: dict[str, Any]) -> None:
    action = body["actions"][0]
    match = VOTE_ACTION.match(str(action.get("action_id")))
    value = str(action.get("value") or "")
    if match is None or not value.isdigit():
        logger.warning("malformed A/B vote action: %s", action.get("action_id"))
        return
    ab.record_vote(
        ctx,
        prompt_id=int(value),
        user_id=body["user"]["id"],
        choice=match.group(1),
        channel_id=body["channel"]["id"],
    )


def register(app: App, ctx: BotContext) -> None:
    def later(work: Any) -> Any:
        def on_click(ack: Ack, body: dict[str, Any]) -> None:
            ack()
            ctx.submit(work, ctx, body)

        return on_click

    def validate_later(ack: Ack, body: dict[str, Any]) -> None:
        # Validation takes seconds to minutes: its own pool, like a dropped file.
        ack()
        ctx.validation_pool.submit(validate_fixed_clicked, ctx, body).add_done_callback(log_failure)

    app.action(re.compile("^" + re.escape(START_ACTION_PREFIX)))(later(start_button_clicked))
    app.action(CANCEL_ACTION_ID)(later(cancel_button_clicked))
    app.action(AB_START_ACTION_ID)(later(ab_start_clicked))
    app.action(AB_RESULTS_ACTION_ID)(later(ab_results_clicked))
    app.action(HOME_REFRESH_ACTION_ID)(later(home_refresh_clicked))
    app.action(VOTE_ACTION)(later(vote_clicked))
    app.action(VALIDATE_FIXED_ACTION_ID)(validate_later)
    app.action(TRAIN_ON_VOTES_ACTION_ID)(later(train_on_votes_clicked))
