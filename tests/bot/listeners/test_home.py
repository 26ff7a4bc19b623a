"""App Home through the real bolt app: the viewer's datasets and jobs on app_home_opened."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.fakeslack.events import app_home_opened_event
from tests.bot.harness import RunningBot, make_settings, start_bot
from tests.core.training.harness import STARTER, UPLOADER, Rig


@pytest.fixture
def bot(rig: Rig) -> Iterator[RunningBot]:
    settings = make_settings(
        rig.tmp, rig.slack, OPENAI_API_KEY=rig.openai.api_key, OPENAI_BASE_URL=rig.openai.base_url
    )
    running = start_bot(settings, rig.slack)
    yield running
    running.stop()


def open_home(bot: RunningBot, rig: Rig, user: str) -> str:
    assert bot.sender.event(app_home_opened_event(user)).status_code == 200
    view = rig.slack.wait_for(lambda: rig.slack.home_view(user), message="home view")
    assert view["type"] == "home"
    return str(view["blocks"])


def test_home_lists_the_viewers_datasets_and_jobs(rig: Rig, bot: RunningBot) -> None:
    job = rig.start_job()
    uploader_home = open_home(bot, rig, UPLOADER)
    assert "ds-" in uploader_home and "train.jsonl" in uploader_home
    assert f"`{job.short_id}` *validating_files*" in uploader_home  # a job on their data
    starter_home = open_home(bot, rig, STARTER)
    assert job.short_id in starter_home and "No datasets yet" in starter_home


def test_home_for_a_newcomer_says_how_to_start(rig: Rig, bot: RunningBot) -> None:
    rig.slack.add_user("U0CAROL", name="carol")
    home = open_home(bot, rig, "U0CAROL")
    assert "No jobs yet" in home and "No datasets yet" in home


def test_home_links_each_thread_shows_local_times_sessions_and_buttons(
    rig: Rig, bot: RunningBot
) -> None:
    job = rig.start_job()
    home = open_home(bot, rig, UPLOADER)
    expected = bot.ctx.client.chat_getPermalink(channel=job.channel_id, message_ts=job.thread_ts)
    assert f"<{expected['permalink']}|open thread>" in home
    assert "<!date^" in home and "{date_short_pretty}" in home
    assert "*A/B tests*" in home and "No A/B tests yet" in home
    view = rig.slack.home_view(UPLOADER)
    assert view is not None
    actions = [b["accessory"]["action_id"] for b in view["blocks"] if b.get("accessory")]
    assert "home_refresh" in actions and "progress_cancel" in actions  # a running job
