"""App Home: each person's recent jobs, A/B tests and datasets, published on open and
when a job changes, with a permalink to each one's thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot.blocks.home import HomeDataset, HomeJob, HomePage, HomeSession, build_home_view
from bot.flows.cards import view_of
from core.store.evaluation import sessions_of_user
from core.training.overview import user_overview

logger = logging.getLogger(__name__)

# A message's permalink never changes: ask Slack once per (channel, ts) per process.
_PERMALINKS: dict[tuple[str, str], str] = {}
_PERMALINKS_MAX = 20_000
_LOCK = threading.Lock()


def permalink(client: WebClient, channel: str, ts: str | None) -> str | None:
    """The thread's permalink, None when Slack will not give one (the home still renders)."""
    if not ts:
        return None
    key = (channel, ts)
    with _LOCK:
        if key in _PERMALINKS:
            return _PERMALINKS[key]
    try:
        link = str(client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
    except SlackApiError as exc:
        logger.info("no permalink for %s/%s: %s", channel, ts, exc.response.get("error"))
        return None
    with _LOCK:
        if len(_PERMALINKS) > _PERMALINKS_MAX:
            _PERMALINKS.clear()
        _PERMALINKS[key] = link
    return link


def home_page(client: WebClient, engine: Engine, *, user_id: str) -> HomePage:
    """``user_id``'s App Home as view models, each with its thread's permalink."""
    overview = user_overview(engine, user_id=user_id)
    jobs = [
        view_of(HomeJob, j, link=permalink(client, j.channel_id, j.thread_ts))
        for j in overview.jobs
    ]
    sessions = [
        view_of(HomeSession, s, link=permalink(client, s.channel_id, s.thread_ts))
        for s in sessions_of_user(engine, user_id=user_id)
    ]
    datasets = [
        view_of(HomeDataset, d, link=permalink(client, d.channel_id, d.thread_ts))
        for d in overview.datasets
    ]
    return HomePage(jobs=jobs, sessions=sessions, datasets=datasets)


def publish_home(client: WebClient, engine: Engine, *, user_id: str) -> None:
    """Render and publish ``user_id``'s App Home. Raises SlackApiError."""
    view = build_home_view(home_page(client, engine, user_id=user_id))
    client.views_publish(user_id=user_id, view=view)


def home_publisher(client: WebClient, engine: Engine) -> Callable[[str], None]:
    """What the scheduler calls when a job's status changed (one argument: the user id)."""

    def publish(user_id: str) -> None:
        publish_home(client, engine, user_id=user_id)

    return publish
