"""The Cancel button on the progress message, through the real bolt app (signed requests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.background.progress_scheduler import ProgressScheduler, start_scheduler
from tests.bot.harness import RunningBot, make_settings, start_bot
from tests.core.training.harness import CHANNEL, STARTER, UPLOADER, Rig


@pytest.fixture
def bot(rig: Rig) -> Iterator[RunningBot]:
    settings = make_settings(
        rig.tmp,
        rig.slack,
        OPENAI_API_KEY=rig.openai.api_key,
        OPENAI_BASE_URL=rig.openai.base_url,
        TUNEBOT_ADMINS=STARTER,
        TUNEBOT_POLL_SECONDS=0.01,
        TUNEBOT_MIN_EDIT_SECONDS=0,
    )
    running = start_bot(settings, rig.slack)
    yield running
    running.stop()


def press_cancel(bot: RunningBot, rig: Rig, *, user: str, short_id: str, progress_ts: str) -> str:
    """Click Cancel on the progress message as ``user``; return the ephemeral answer."""
    before = len(rig.slack.ephemerals(CHANNEL, user))
    response = bot.sender.action(
        "progress_cancel",
        user_id=user,
        value=short_id,
        channel_id=CHANNEL,
        message=rig.slack.message(CHANNEL, progress_ts),
    )
    assert response.status_code == 200
    notes = rig.slack.wait_for(
        lambda: rig.slack.ephemerals(CHANNEL, user)[before:], message="ephemeral answer"
    )
    return str(notes[0]["text"])


@pytest.fixture
def scheduler(bot: RunningBot) -> Iterator[ProgressScheduler]:
    """A scheduler ticked by hand, closed after the test (its poller owns a loop thread)."""
    built = start_scheduler(bot.ctx, start=False)
    yield built
    built.shutdown()


def test_allowed_user_cancels_at_the_provider_and_the_thread_says_who(
    rig: Rig, bot: RunningBot, scheduler: ProgressScheduler
) -> None:
    job = rig.start_job(total_steps=40, n_epochs=2, steps_per_tick=1)
    for _ in range(4):
        scheduler.tick()  # running, with a Cancel button on the progress message
    progress = rig.progress_message(job)
    assert any(b["type"] == "actions" for b in progress["blocks"])

    answer = press_cancel(
        bot, rig, user=STARTER, short_id=job.short_id, progress_ts=str(job.progress_ts)
    )
    assert "Cancelling job" in answer
    assert rig.openai.job(str(job.provider_job_id))["status"] == "cancelled"
    for _ in range(3):
        scheduler.tick()
    final = rig.replies(job)[-1]["text"]
    assert f"cancelled by <@{STARTER}>" in final
    assert rig.reply_keys(job).count("final") == 1
    assert "Cancelled" in rig.progress_message(job)["text"]
    # the job changed: both people's App Home now shows it cancelled
    for user in (STARTER, UPLOADER):
        home = rig.slack.home_view(user)
        assert home is not None and f"`{job.short_id}` *cancelled*" in str(home["blocks"])


def test_other_users_are_refused_and_nothing_is_cancelled(rig: Rig, bot: RunningBot) -> None:
    job = rig.start_job(total_steps=40, n_epochs=2, steps_per_tick=1)
    answer = press_cancel(
        bot, rig, user=UPLOADER, short_id=job.short_id, progress_ts=str(job.progress_ts)
    )
    assert answer == bot.ctx.authorizer.refusal("cancel")
    assert "to cancel it" in answer and "start it" not in answer
    assert rig.openai.job(str(job.provider_job_id))["status"] != "cancelled"
    assert not rig.openai.requests("jobs.cancel")


def test_cancelling_a_finished_job_says_so(
    rig: Rig, bot: RunningBot, scheduler: ProgressScheduler
) -> None:
    job = rig.start_job(total_steps=2, n_epochs=1, steps_per_tick=2)
    for _ in range(5):
        scheduler.tick()
    answer = press_cancel(
        bot, rig, user=STARTER, short_id=job.short_id, progress_ts=str(job.progress_ts)
    )
    assert "already succeeded" in answer
    assert not rig.openai.requests("jobs.cancel")


def test_unknown_job_id_in_a_forged_click_is_answered(rig: Rig, bot: RunningBot) -> None:
    job = rig.start_job()
    answer = press_cancel(
        bot, rig, user=STARTER, short_id="job-nope", progress_ts=str(job.progress_ts)
    )
    assert "no job `job-nope`" in answer


def test_a_job_started_with_finetune_start_is_followed_to_its_result(
    rig: Rig, bot: RunningBot, scheduler: ProgressScheduler
) -> None:
    """The contract with the bot's start flow: its "starting" message becomes the
    progress message, and the dataset's thread gets the milestones and the result."""
    from tests.bot.flows.test_start import dropped_report, wait_text

    message, _, dataset = dropped_report(bot)
    assert rig.openai is not None
    rig.openai.script_next_job(total_steps=4, n_epochs=2, steps_per_tick=2)
    bot.sender.command(f"start {dataset} --provider openai", user_id=STARTER, channel_id=CHANNEL)
    started = wait_text(bot, message["ts"], "started")
    for _ in range(10):
        scheduler.tick()
    progress = rig.slack.message(CHANNEL, started["ts"])
    assert "Succeeded" in progress["text"]  # the bot's own message, edited in place
    replies = [m for m in rig.slack.bot_messages(CHANNEL, message["ts"]) if m.get("metadata")]
    keys = [m["metadata"]["event_payload"]["key"] for m in replies]
    assert keys == ["started", "result"]  # epochs are folded into the progress message
    assert rig.slack.uploads(CHANNEL, message["ts"])  # the loss curve
