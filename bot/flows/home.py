"""App Home: each person's recent datasets and jobs, published on open and when a job changes."""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.blocks.home import build_home_view
from core.training.overview import user_overview


def publish_home(client: WebClient, engine: Engine, *, user_id: str) -> None:
    """Render and publish ``user_id``'s App Home. Raises SlackApiError."""
    view = build_home_view(user_overview(engine, user_id=user_id))
    client.views_publish(user_id=user_id, view=view)


def home_publisher(client: WebClient, engine: Engine) -> Callable[[str], None]:
    """What the scheduler calls when a job's status changed (one argument: the user id)."""

    def publish(user_id: str) -> None:
        publish_home(client, engine, user_id=user_id)

    return publish
