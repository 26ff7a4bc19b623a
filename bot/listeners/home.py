"""App Home opened: publish the person's overview (:mod:`bot.flows.home`)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.context import BotContext
from bot.flows.home import publish_home

logger = logging.getLogger(__name__)


def register(app: App, ctx: BotContext) -> None:
    """Publish App Home when someone opens it (events are acked by bolt before this runs)."""

    def on_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        try:
            publish_home(ctx.client, ctx.engine, user_id=event["user"])
        except SlackApiError as error:
            logger.warning(
                "App Home for %s not published: %s", event["user"], error.response.get("error")
            )

    app.event("app_home_opened")(on_home_opened)
