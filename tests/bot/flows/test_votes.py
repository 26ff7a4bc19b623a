""" "Train on these votes" end to end: signed requests into the real bolt app (HTTP mode),
FakeSlack for every Web API call, FakeOpenAI (strict about ``method: dpo``) behind the
real openai-SDK provider, and the progress scheduler posting the job's result."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.auth import Authorizer
from bot.background.progress_scheduler import start_scheduler
from bot.fakeslack.api import FakeSlack
from core.store.engine import session_scope
from core.store.evaluation import AbSession
from core.store.jobs import TrainingJob
from core.store.progress import JobPollState
from tests.bot.flows.test_ab import (
    ANSWER_FT,
    FT,
    WAIT,
    _confirmed_results,
    _job,
    _prompt,
    _start,
    _vote,
    _wait_pairs,
    start_ab_bot,
)
from tests.bot.harness import ALICE, BOB, CHANNEL, RunningBot
from tests.fakes.openai_api import FakeOpenAI

MIN_PAIRS = 10
TRAIN = "ab_train_on_votes"


@pytest.fixture
def votes_bot(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> Iterator[RunningBot]:
    running = start_ab_bot(
        tmp_path,
        fake_slack,
        fake_openai,
        TUNEBOT_MIN_EDIT_SECONDS=0.3,
        TUNEBOT_DPO_MIN_PAIRS=MIN_PAIRS,
        TUNEBOT_ADMINS=[ALICE],
        TUNEBOT_POLL_SECONDS=0.1,  # the scheduler's ticks below poll the job each time
    )
    yield running
    running.stop()


def _session(bot: RunningBot) -> AbSession:
    with session_scope(bot.ctx.engine) as db:
        return db.exec(select(AbSession)).one()


def _voted_session(
    bot: RunningBot, tmp_path: Path, *, decided: int, ties: int = 0
) -> tuple[str, set[str]]:
    """A session on a succeeded job with ``decided`` prompts won by the fine-tuned model
    and ``ties`` tied ones, every vote cast with the buttons.

    Returns the session's thread ts and the decided prompts.
    """
    root = _start(bot, _job(bot, tmp_path))
    total = decided + ties
    for number in range(total):
        _prompt(bot, root, f"question {number}")
    pairs = _wait_pairs(bot, root, total)
    won = set()
    for number, pair in enumerate(pairs):
        _vote(bot, pair, BOB, _tuned_side(pair) if number < decided else "ab_vote_tie")
        if number < decided:
            # The pair quotes its prompt; numbers follow arrival, which concurrent
            # listeners don't keep in posting order.
            (asked,) = re.findall(r"^> (question \d+)$", _head(pair), re.M)
            won.add(asked)
    bot.slack.wait_for(
        lambda: len(bot.slack.ephemerals(CHANNEL, BOB)) >= total, timeout=WAIT, message="votes"
    )
    return str(root["ts"]), won


def _head(pair: dict[str, Any]) -> str:
    return str(pair["blocks"][0]["text"]["text"])


def _tuned_side(pair: dict[str, Any]) -> str:
    """The vote for the fine-tuned model's answer, wherever the random order put it."""
    a_text = next(
        b["text"]["text"]
        for b in pair["blocks"]
        if b["type"] == "section" and b["text"]["text"].startswith("*Response A*")
    )
    return "ab_vote_a" if ANSWER_FT in a_text else "ab_vote_b"


def _results(bot: RunningBot, thread: str) -> dict[str, Any]:
    # Unblinding is the creator's or an admin's (ALICE is an admin), behind a confirm.
    _confirmed_results(bot, _session(bot).short_id, ALICE)
    return bot.slack.wait_for(
        lambda: [m for m in bot.slack.bot_messages(CHANNEL, thread) if "Results of" in m["text"]],
        timeout=WAIT,
        message="results",
    )[0]


def _train_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id") == TRAIN
    ]


def _preferences_upload(bot: RunningBot, thread: str) -> bytes:
    uploads = bot.slack.wait_for(
        lambda: [u for u in bot.slack.uploads(CHANNEL, thread) if u["filename"].endswith(".jsonl")],
        timeout=WAIT,
        message="the preferences upload",
    )
    return bytes(uploads[0]["content"])


def _click(bot: RunningBot, results: dict[str, Any], user: str) -> None:
    response = bot.sender.action(
        TRAIN, user_id=user, channel_id=CHANNEL, message=results, value=_session(bot).short_id
    )
    assert response.status_code == 200


def test_enough_votes_offer_training_and_one_click_starts_one_dpo_job(
    votes_bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    bot = votes_bot
    thread, won = _voted_session(bot, tmp_path, decided=MIN_PAIRS, ties=1)
    results = _results(bot, thread)
    (button,) = _train_buttons(results)
    assert button["value"] == _session(bot).short_id
    assert f"{MIN_PAIRS} decided prompts" in json.dumps(button["confirm"])

    _click(bot, results, ALICE)
    _click(bot, results, ALICE)  # a double click
    (job,) = fake_openai.wait_for(fake_openai.jobs, timeout=WAIT, message="the DPO job")
    again = bot.slack.wait_for(
        lambda: [e for e in bot.slack.ephemerals(CHANNEL, ALICE) if "already" in e["text"]],
        timeout=WAIT,
        message="the double click's answer",
    )
    assert "already started job" in again[0]["text"]
    assert len(fake_openai.jobs()) == 1

    # The job continues the session's fine-tuned model with method dpo, on exactly the
    # session's decided pairs (the file the thread offers as DPO data).
    assert job["method"]["type"] == "dpo" and job["model"] == FT
    trained = fake_openai.file_content(job["training_file"])
    assert trained == _preferences_upload(bot, thread)
    rows = [json.loads(line) for line in trained.decode().splitlines()]
    assert len(rows) == MIN_PAIRS
    assert all(r["preferred_output"][0]["content"].startswith(ANSWER_FT) for r in rows)
    assert {r["input"]["messages"][0]["content"] for r in rows} == won

    # Progress in the session's thread like any job, to the result with its checkpoints.
    started = bot.slack.wait_for(
        lambda: [m for m in bot.slack.bot_messages(CHANNEL, thread) if "started on" in m["text"]],
        timeout=WAIT,
        message="the started message",
    )
    assert "DPO" in json.dumps(started[0]["blocks"])
    with session_scope(bot.ctx.engine) as db:
        row = db.exec(select(TrainingJob).where(TrainingJob.provider_job_id == job["id"])).one()
    assert row.thread_ts == thread and row.started_by == ALICE
    scheduler = start_scheduler(bot.ctx, start=False)
    try:
        for _ in range(20):
            scheduler.tick()
            if _finalized(bot, row):
                break
            time.sleep(0.1)
    finally:
        scheduler.shutdown()
    result = next(m for m in bot.slack.bot_messages(CHANNEL, thread) if "succeeded" in m["text"])
    listed = json.dumps(result["blocks"])
    checkpoints = fake_openai.state.job(job["id"]).checkpoints
    assert checkpoints and "Checkpoints" in listed
    for point in checkpoints:
        assert point["fine_tuned_model_checkpoint"] in listed
        assert f"step {point['step_number']}" in listed


def test_fewer_decided_prompts_than_the_minimum_offer_no_training(
    votes_bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    bot = votes_bot
    thread, _ = _voted_session(bot, tmp_path, decided=MIN_PAIRS - 1, ties=2)
    results = _results(bot, thread)
    assert _train_buttons(results) == []
    # A forged click (the button is not there) is refused by the same rule.
    _click(bot, {**results, "blocks": []}, ALICE)
    refusal = bot.slack.wait_for(
        lambda: [e for e in bot.slack.ephemerals(CHANNEL, ALICE) if "Not started" in e["text"]],
        timeout=WAIT,
        message="the refusal",
    )
    assert f"needs at least {MIN_PAIRS}" in refusal[0]["text"]
    assert fake_openai.jobs() == []


def test_people_who_may_not_start_jobs_are_refused(
    votes_bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    bot = votes_bot
    bot.ctx.authorizer = Authorizer(admins=[ALICE], usergroup=None, client=bot.ctx.client)
    thread, _ = _voted_session(bot, tmp_path, decided=MIN_PAIRS)
    results = _results(bot, thread)
    assert _train_buttons(results)
    before = len(bot.slack.ephemerals(CHANNEL, BOB))
    _click(bot, results, BOB)
    refusal = bot.slack.wait_for(
        lambda: bot.slack.ephemerals(CHANNEL, BOB)[before:], timeout=WAIT, message="refusal"
    )
    assert "Only tunebot admins" in refusal[0]["text"]
    assert fake_openai.jobs() == []
    with session_scope(bot.ctx.engine) as db:
        assert db.exec(select(TrainingJob).where(TrainingJob.provider == "openai")).all() == [
            db.exec(select(TrainingJob)).one()  # only the seeded, finished job
        ]


def _finalized(bot: RunningBot, job: TrainingJob) -> bool:
    with session_scope(bot.ctx.engine) as db:
        state = db.get(JobPollState, job.id)
    return bool(state and state.finalized)


def test_pairs_that_cannot_be_trained_on_are_refused_with_the_reason(
    votes_bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    """An empty answer cannot be a DPO example: the click says so, nothing is uploaded."""
    bot = votes_bot
    fake_openai.set_responder(FT, lambda m, b: "")
    thread, _ = _voted_session(bot, tmp_path, decided=MIN_PAIRS)
    _click(bot, _results(bot, thread), ALICE)
    refusal = bot.slack.wait_for(
        lambda: [e for e in bot.slack.ephemerals(CHANNEL, ALICE) if "Not started" in e["text"]],
        timeout=WAIT,
        message="the refusal",
    )
    assert "do not make a valid training file" in refusal[0]["text"]
    assert "empty" in refusal[0]["text"].lower()
    assert fake_openai.jobs() == [] and fake_openai.files() == []


def test_the_monthly_budget_applies_to_training_on_votes(
    votes_bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    bot = votes_bot
    thread, _ = _voted_session(bot, tmp_path, decided=MIN_PAIRS)
    # Set after the votes: A/B answers count against the budget too, and would be refused.
    bot.ctx.settings.monthly_budget_usd = 0.0001
    _click(bot, _results(bot, thread), ALICE)
    refusal = bot.slack.wait_for(
        lambda: [e for e in bot.slack.ephemerals(CHANNEL, ALICE) if "Not started" in e["text"]],
        timeout=WAIT,
        message="the refusal",
    )
    assert "monthly budget" in refusal[0]["text"]
    assert fake_openai.jobs() == []
