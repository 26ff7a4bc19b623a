"""The progress scheduler against FakeSlack + FakeOpenAI on loopback.

Each FakeOpenAI job advances one stage (or ``steps_per_tick`` steps) per
``jobs.retrieve``, so one scheduler tick moves it one step along its script.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

import bot.background.poster
from bot.background.progress_scheduler import ProgressScheduler
from bot.fakeslack.api import FakeSlack
from core.store.engine import session_scope
from core.store.jobs import TrainingJob
from core.store.progress import JobPollState
from core.training.poller import backoff_seconds
from tests.core.training.harness import CHANNEL, STARTER, UPLOADER, Rig, slack_client
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.openai_jobs import loss_at


def state_of(rig: Rig, job: TrainingJob) -> JobPollState:
    with session_scope(rig.engine) as session:
        state = session.get(JobPollState, job.id)
    assert state is not None
    return state


def run_until_final(
    rig: Rig,
    scheduler: ProgressScheduler,
    job: TrainingJob,
    *,
    max_ticks: int = 30,
    pause: float = 0.0,
) -> int:
    for tick in range(1, max_ticks + 1):
        scheduler.tick()
        if state_of(rig, job).finalized:
            return tick
        time.sleep(pause)
    raise AssertionError(f"job not finalized after {max_ticks} ticks: {rig.reply_keys(job)}")


def test_success_posts_each_milestone_once_edits_progress_and_uploads_the_curve(rig: Rig) -> None:
    job = rig.start_job(total_steps=12, n_epochs=3, steps_per_tick=3)
    scheduler = rig.scheduler()
    run_until_final(rig, scheduler, job)
    calls_when_final = len(rig.slack.calls())
    for _ in range(3):
        scheduler.tick()
    assert len(rig.slack.calls()) == calls_when_final  # a finished job costs nothing more

    # Epochs fold into the progress message; the outcome is a reply of its own (it notifies).
    assert rig.reply_keys(job) == ["started", "plot", "result"]
    # one progress message, edited in place, never re-posted
    progress = rig.progress_message(job)
    assert "Succeeded" in progress["text"]
    shown = str(progress["blocks"])
    assert all(f"Epoch {k}/3: train loss" in shown for k in (1, 2, 3))
    assert f"Started by <@{STARTER}>" in shown and job.base_model in shown  # options kept
    assert len(rig.slack.edits(CHANNEL, str(job.progress_ts))) >= 4
    posts = [c for c in rig.slack.calls("chat.postMessage") if c.args.get("thread_ts")]
    assert len(posts) == 1 + 2  # "job started" + started and result (the plot is an upload)
    assert not any(b.get("type") == "actions" for b in progress["blocks"])  # no Cancel left

    upload = rig.slack.uploads(CHANNEL, job.thread_ts)
    assert [u["filename"] for u in upload] == [f"loss-curve-{job.short_id}.png"]
    assert upload[0]["content"][:8] == b"\x89PNG\r\n\x1a\n"

    result = rig.replies(job)[-1]
    fine_tuned = rig.openai.job(job.provider_job_id or "")["fine_tuned_model"]
    assert fine_tuned and fine_tuned in result["text"]
    button = next(b for b in result["blocks"] if b["type"] == "actions")["elements"][0]
    assert (button["action_id"], button["value"]) == ("ab_start", job.short_id)
    result_text = str(result["blocks"])
    assert f"{12 * 2048:,}" in result_text  # trained tokens from the provider
    assert "Final train loss" in result_text and "Duration" in result_text
    assert "Hyperparameters: " in result_text and "n_epochs 3" in result_text
    # the uploader and the starter are mentioned once, in the last reply only
    mentioned = [
        m["ts"]
        for m in rig.replies(job)
        for u in (UPLOADER, STARTER)
        if f"<@{u}>" in m["text"] + str(m.get("blocks", ""))
    ]
    assert mentioned == [result["ts"], result["ts"]]
    assert str(result["blocks"]).count(f"<@{UPLOADER}>") == 1


def test_epoch_milestones_carry_the_losses(rig: Rig) -> None:
    job = rig.start_job(total_steps=4, n_epochs=2, steps_per_tick=2)
    run_until_final(rig, rig.scheduler(), job)
    assert not [m for m in rig.replies(job) if "Epoch 1/2" in m["text"]]
    epoch_one = str(rig.progress_message(job)["blocks"])
    # epoch 1 ends at step 2 of 4: the fake's loss there, validation 8 % above it
    loss = loss_at(2, 4)
    assert f"train loss {loss:.4f}, valid loss {round(loss * 1.08, 4):.4f}" in epoch_one


def test_failed_job_says_why_and_what_to_do(rig: Rig) -> None:
    job = rig.start_job(outcome="failed")
    run_until_final(rig, rig.scheduler(), job)
    assert rig.reply_keys(job) == ["final"]
    text = rig.replies(job)[0]["text"]
    assert "invalid training file" in text and "invalid_training_file" in text
    assert "What to do" in text and f"<@{UPLOADER}> <@{STARTER}>" in text


def test_cancelled_outside_the_bot_is_reported(rig: Rig) -> None:
    job = rig.start_job(
        outcome="cancelled", total_steps=10, n_epochs=2, steps_per_tick=2, cancel_at_step=4
    )
    run_until_final(rig, rig.scheduler(), job)
    assert rig.reply_keys(job) == ["started", "final"]
    assert "cancelled at the provider" in rig.replies(job)[-1]["text"]


def test_slack_429_on_chat_update_delays_but_never_drops_the_final_edit(rig: Rig) -> None:
    job = rig.start_job(total_steps=2, n_epochs=1, steps_per_tick=2)
    scheduler = rig.scheduler()
    scheduler.tick()
    scheduler.tick()  # running
    rig.slack.fail_next("chat.update", retry_after=1, times=1)
    summary = scheduler.tick()  # succeeded; the final edit hits a 429
    assert summary.edits == 0 and summary.edits_deferred == 1
    assert "Succeeded" not in rig.progress_message(job)["text"]
    assert not state_of(rig, job).finalized
    scheduler.tick()  # within Retry-After: still waiting, nothing sent
    assert len([c for c in rig.slack.calls("chat.update") if c.status == 429]) == 1
    time.sleep(1.05)
    run_until_final(rig, scheduler, job, max_ticks=3)
    assert "Succeeded" in rig.progress_message(job)["text"]


def test_sdk_retry_handler_absorbs_a_429_within_the_tick(rig: Rig) -> None:
    job = rig.start_job(total_steps=2, n_epochs=1, steps_per_tick=2)
    scheduler = rig.scheduler(
        client=slack_client(
            rig.slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)]
        ),
    )
    rig.slack.fail_next("chat.update", retry_after=0.2, times=1)
    run_until_final(rig, scheduler, job)
    assert "Succeeded" in rig.progress_message(job)["text"]


def test_edits_are_throttled_per_job_and_by_the_global_budget(rig: Rig) -> None:
    jobs = [rig.start_job(total_steps=40, n_epochs=1, steps_per_tick=1) for _ in range(3)]
    scheduler = rig.scheduler(TUNEBOT_MIN_EDIT_SECONDS=3600, TUNEBOT_EDITS_PER_MINUTE=2)
    first = scheduler.tick()
    assert (first.edits, first.edits_deferred) == (2, 1)  # budget of 2 per minute
    second = scheduler.tick()
    assert second.edits == 0  # the budget is spent; the two edited jobs are within 3600 s
    edited = [j for j in jobs if rig.slack.edits(CHANNEL, str(j.progress_ts))]
    assert len(edited) == 2


@pytest.mark.parametrize("status", [500, 429])
def test_provider_errors_back_off_alert_once_then_recover(rig: Rig, status: int) -> None:
    job = rig.start_job(total_steps=4, n_epochs=1, steps_per_tick=2)
    scheduler = rig.scheduler(TUNEBOT_POLL_SECONDS=0.2, TUNEBOT_PROVIDER_SILENCE_ALERT=0.5)
    scheduler.tick()  # validating_files -> queued
    assert rig.openai is not None
    rig.openai.fail_for(2.0, route="jobs.retrieve", status=status)  # outlasts the loop below
    deadline = time.monotonic() + 1.6
    failures = 0
    while time.monotonic() < deadline:
        failures += scheduler.tick().poll_failures
        time.sleep(0.05)
    retrieves = [r for r in rig.openai.requests("jobs.retrieve") if r.status == status]
    # backoff: far fewer retrieves than ticks (about 30 ticks ran in 1.6 s)
    assert 2 <= len(retrieves) <= 6 and failures == len(retrieves)
    assert state_of(rig, job).failures >= 1
    assert [k for k in rig.reply_keys(job) if k.startswith("silence:")] != []
    run_until_final(rig, scheduler, job, max_ticks=50, pause=0.1)  # waits out the backoff
    keys = rig.reply_keys(job)
    assert len([k for k in keys if k.startswith("silence:")]) == 1
    assert keys[-2:] == ["plot", "result"] and keys.count("started") == 1
    silence = next(m["text"] for m in rig.replies(job) if "has not answered" in m["text"])
    assert "OpenAI has not answered" in silence and "UTC" in silence


def test_a_failing_provider_delays_only_its_own_jobs(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    with FakeOpenAI() as worker_api:  # the worker speaks the same protocol
        rig = Rig(
            slack=fake_slack,
            openai=fake_openai,
            tmp=tmp_path,
            overrides={
                "TUNEBOT_WORKER_URL": worker_api.url,
                "TUNEBOT_WORKER_API_KEY": worker_api.api_key,
            },
        )
        try:
            broken = rig.start_job(total_steps=4, n_epochs=1)
            healthy = rig.start_job(provider_name="worker")
            fake_openai.fail_for(30, status=503)
            scheduler = rig.scheduler(TUNEBOT_POLL_SECONDS=0.2)
            run_until_final(rig, scheduler, healthy, pause=0.2)
            assert rig.reply_keys(healthy)[-2:] == ["plot", "result"]
            # The broken provider was backed off: each wait after a failure is at
            # least twice the one before (0.2 s, 0.4 s, ...). Compared by gaps, not
            # by a count of ticks, which a busy machine stretches.
            tries = fake_openai.requests("jobs.retrieve")
            assert len(tries) >= 2
            for n, (before, after) in enumerate(itertools.pairwise(tries)):
                assert after.start - before.end >= backoff_seconds(n, base=0.2) - 0.05
            assert rig.reply_keys(broken) == []
            with session_scope(rig.engine) as session:
                row = session.get(TrainingJob, broken.id)
            assert row is not None and row.status == "validating_files"  # keeps its last status
        finally:
            rig.close()  # also when an assertion failed: its pollers hold aiohttp sessions


def test_a_bug_in_one_job_does_not_stop_the_others(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    unlucky = rig.start_job(total_steps=2, n_epochs=1, steps_per_tick=2)
    lucky = rig.start_job(total_steps=2, n_epochs=1, steps_per_tick=2)
    real_plot = bot.background.poster.loss_curve_png

    def plot_fails_for_one_job(points: object, *, title: str) -> bytes:
        if unlucky.short_id in title:
            raise RuntimeError("simulated bug")
        return real_plot(points, title=title)  # type: ignore[arg-type]

    monkeypatch.setattr(bot.background.poster, "loss_curve_png", plot_fails_for_one_job)
    scheduler = rig.scheduler()
    run_until_final(rig, scheduler, lucky)
    assert rig.reply_keys(unlucky)[-1] == "started"  # stuck before its plot, nothing skipped
    monkeypatch.setattr(bot.background.poster, "loss_curve_png", real_plot)
    run_until_final(rig, scheduler, unlucky)
    assert rig.reply_keys(unlucky) == ["started", "plot", "result"]


def test_a_burst_of_replies_is_spread_over_ticks_without_losing_any(rig: Rig) -> None:
    jobs = [rig.start_job(total_steps=2, n_epochs=1, steps_per_tick=2) for _ in range(3)]
    scheduler = rig.scheduler(posts_per_tick=2)
    posted = [scheduler.tick().posted for _ in range(12)]
    assert max(posted) == 2 and sum(posted) == 3 * 3  # started, plot, result each
    for job in jobs:
        assert rig.reply_keys(job) == ["started", "plot", "result"]
