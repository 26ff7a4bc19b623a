"""App Home: each person's recent datasets and jobs, on open and when a job changes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot.blocks.home import build_home_view
from bot.context import BotContext
from core.training.overview import user_overview

logger = logging.getLogger(__name__)


def publish_home(client: WebClient, engine: Engine, *, user_id: str) -> None:
    """Render and publish ``user_id``'s App Home. Raises SlackApiError."""
    view = build_home_view(user_overview(engine, user_id=user_id))
    client.views_publish(user_id=user_id, view=view)


def home_publisher(client: WebClient, engine: Engine) -> Callable[[str], None]:
    """What the scheduler calls when a job's status changed (one argument: the user id)."""

    def publish(user_id: str) -> None:
        publish_home(client, engine, user_id=user_id)

    return publish


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
