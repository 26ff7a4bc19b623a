"""A/B sessions end to end: signed requests into the real bolt app (HTTP mode), FakeSlack
for every Web API call, FakeOpenAI behind the real openai-SDK provider."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.auth import Authorizer
from bot.background.evaluations import evaluation_tick
from bot.blocks.ab import build_unblind_confirm
from bot.blocks.job_thread import JobLabel, ResultFacts, build_result_message
from bot.fakeslack.api import FakeSlack
from bot.fakeslack.events import message_event
from core.evaluation import sessions
from core.evaluation.sessions import record_prompt
from core.evaluation.spend import model_call_spend_usd
from core.store.engine import session_scope
from core.store.evaluation import AbPrompt, AbResponse, AbSession, AbVote
from tests.bot.harness import (
    ALICE,
    BOB,
    CHANNEL,
    RunningBot,
    make_settings,
    seed_finished_job,
    start_bot,
    write_chat_jsonl,
)
from tests.fakes.openai_api import FakeOpenAI

FT = "ft:gpt-4o-mini-2024-07-18:org-tunebot::abc123"
BASE = "gpt-4o-mini"
JOB = "job-ab0001"
WAIT = 15.0


ANSWER_FT = "reply one to"
ANSWER_BASE = "reply two to"


def start_ab_bot(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI, **settings: Any
) -> RunningBot:
    """The bot on FakeOpenAI, where the two models answer "reply one/two to <prompt>"."""
    fake_openai.set_responder(FT, lambda m, b: f"{ANSWER_FT} {m[-1]['content']}")
    fake_openai.set_responder(BASE, lambda m, b: f"{ANSWER_BASE} {m[-1]['content']}")
    made = make_settings(
        tmp_path,
        fake_slack,
        OPENAI_API_KEY=fake_openai.api_key,
        OPENAI_BASE_URL=fake_openai.base_url,
        TUNEBOT_PROVIDER_MAX_RETRIES=0,
        **settings,
    )
    return start_bot(made, fake_slack)


@pytest.fixture
def ab_bot(tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI) -> Iterator[RunningBot]:
    running = start_ab_bot(tmp_path, fake_slack, fake_openai, TUNEBOT_MIN_EDIT_SECONDS=0.3)
    yield running
    running.stop()


def _budget_bot(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI, **prices: float
) -> RunningBot:
    return start_ab_bot(
        tmp_path,
        fake_slack,
        fake_openai,
        TUNEBOT_MONTHLY_BUDGET_USD=5.0,
        TUNEBOT_INFERENCE_PRICES=prices,
    )


def test_ab_answers_count_toward_the_monthly_budget(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    # $1 per token: the first pair of answers spends the $5 budget.
    bot = _budget_bot(tmp_path, fake_slack, fake_openai, **{FT: 1e6, BASE: 1e6})
    try:
        root = _start(bot, _job(bot, tmp_path))
        _prompt(bot, root, "first")
        _wait_pairs(bot, root, 1)
        _prompt(bot, root, "second")
        refusal = bot.slack.wait_for(lambda: bot.slack.ephemerals(CHANNEL, BOB), timeout=WAIT)
        assert "has reached the $5.00 monthly budget" in refusal[0]["text"], refusal
        # The same spend stands in the way of training jobs (core.training.start).
        assert model_call_spend_usd(bot.ctx.engine, settings=bot.ctx.settings) >= 5.0
        assert len(_pairs(bot, root)) == 1
        calls = fake_openai.requests("chat.completions")
        assert len(calls) == 2  # nothing was asked for the refused prompt
    finally:
        bot.stop()


def test_ab_on_an_unpriced_model_is_refused_under_a_budget(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    bot = _budget_bot(tmp_path, fake_slack, fake_openai, **{FT: 1.0})
    try:
        root = _start(bot, _job(bot, tmp_path))
        _prompt(bot, root, "first")
        refusal = bot.slack.wait_for(lambda: bot.slack.ephemerals(CHANNEL, BOB), timeout=WAIT)
        assert "TUNEBOT_INFERENCE_PRICES" in refusal[0]["text"] and BASE in refusal[0]["text"]
        assert not fake_openai.requests("chat.completions")
    finally:
        bot.stop()


def _job(bot: RunningBot, tmp_path: Path) -> dict[str, Any]:
    """A succeeded job whose dataset thread is a real message in the fake workspace."""
    train = write_chat_jsonl(tmp_path / "train.jsonl", {f"q{i}": f"a{i}" for i in range(8)})
    return seed_finished_job(
        bot,
        dataset_short_id="ds-ab0001",
        job_short_id=JOB,
        base_model=BASE,
        fine_tuned_model=FT,
        training_path=train,
    )


def _roots(bot: RunningBot) -> list[dict[str, Any]]:
    return [
        m
        for m in bot.slack.bot_messages(CHANNEL)
        if "thread_ts" not in m or m["thread_ts"] == m["ts"]
        if "A/B test" in (m.get("text") or "")
    ]


def _start(bot: RunningBot, parent: dict[str, Any], user: str = ALICE) -> dict[str, Any]:
    response = bot.sender.action(
        "ab_start", user_id=user, value=JOB, channel_id=CHANNEL, message=parent
    )
    assert response.status_code == 200
    root = bot.slack.wait_for(lambda: _roots(bot), timeout=WAIT, message="session root")[0]
    # The bot learns the root's ts from chat.postMessage's answer, a moment after
    # the message exists; waiting for it keeps the tests' prompts on the listener
    # path (a reply in between is read back from the thread, tested on its own).
    bot.slack.wait_for(lambda: _session_thread(bot) == root["ts"], timeout=WAIT)
    return root


def _session_thread(bot: RunningBot) -> str | None:
    with session_scope(bot.ctx.engine) as db:
        session = db.exec(select(AbSession)).first()
    return session.thread_ts if session else None


def _prompt(bot: RunningBot, root: dict[str, Any], text: str, user: str = BOB) -> dict[str, Any]:
    message = bot.slack.post_user_message(CHANNEL, text, user=user, thread_ts=root["ts"])
    assert bot.sender.event(message_event(CHANNEL, message)).status_code == 200
    return message


def _pairs(bot: RunningBot, root: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        m
        for m in bot.slack.bot_messages(CHANNEL, root["ts"])
        if (m.get("text") or "").startswith("Prompt ") and "Response A" in (m.get("text") or "")
    ]


def _wait_pairs(bot: RunningBot, root: dict[str, Any], n: int) -> list[dict[str, Any]]:
    return bot.slack.wait_for(
        lambda: (p := _pairs(bot, root)) and len(p) >= n and p, timeout=WAIT, message=f"{n} pairs"
    )


def _vote(bot: RunningBot, pair: dict[str, Any], user: str, action: str) -> None:
    value = next(
        e["value"] for b in pair["blocks"] if b["type"] == "actions" for e in b["elements"]
    )
    response = bot.sender.action(
        action, user_id=user, value=value, channel_id=CHANNEL, message=pair
    )
    assert response.status_code == 200


def test_button_starts_one_session_and_prompts_are_answered_blind(
    ab_bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    bot = ab_bot
    parent = _job(bot, tmp_path)
    root = _start(bot, parent)
    assert "How to take part" in json.dumps(root["blocks"])
    # Announced in the job's thread; a second click points to the same session.
    bot.slack.wait_for(
        lambda: [m for m in bot.slack.bot_messages(CHANNEL, parent["ts"]) if ":vs:" in m["text"]],
        timeout=WAIT,
    )
    bot.sender.action("ab_start", user_id=BOB, value=JOB, channel_id=CHANNEL, message=parent)
    bot.slack.wait_for(lambda: bot.slack.ephemerals(CHANNEL, BOB), timeout=WAIT)
    assert "already has" in bot.slack.ephemerals(CHANNEL, BOB)[0]["text"]
    assert len(_roots(bot)) == 1

    # Both models take a while: the pair must be asked at once, not one after the other.
    fake_openai.set_responder(FT, lambda m, b: f"reply one to {m[-1]['content']}", delay=0.5)
    fake_openai.set_responder(BASE, lambda m, b: f"reply two to {m[-1]['content']}", delay=0.5)
    message = _prompt(bot, root, "What is 2+2?")
    (pair,) = _wait_pairs(bot, root, 1)
    public = json.dumps(pair) + json.dumps(bot.slack.edits(CHANNEL, pair["ts"]))
    assert FT not in public and BASE not in public and "fine-tuned" not in public
    assert "reply one to What is 2+2?" in public and "reply two to" in public
    with session_scope(bot.ctx.engine) as db:
        prompt = db.exec(select(AbPrompt)).one()
        shown_as = {r.position: r.model for r in db.exec(select(AbResponse)).all()}
    assert prompt.slack_ts == message["ts"] and prompt.status == "answered"
    assert shown_as[prompt.candidate_position] == FT
    slot_text = next(
        b["text"]["text"]
        for b in pair["blocks"]
        if b["type"] == "section" and f"*Response {prompt.candidate_position}*" in b["text"]["text"]
    )
    assert "reply one" in slot_text
    # Both models were asked at the same time with the same settings.
    first, second = fake_openai.requests("chat.completions")
    assert max(first.start, second.start) < min(first.end, second.end)


@pytest.mark.parametrize("event_after_save", [False, True])
def test_a_reply_posted_before_the_root_ts_is_saved_is_answered_once(
    ab_bot: RunningBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, event_after_save: bool
) -> None:
    """The root is in Slack but its ts not yet in the database when Bob replies.

    His event either arrives in that window (no session for the thread yet: it
    is passed over) or just after (the listener takes it too); either way the
    reply becomes exactly one prompt.
    """
    bot = ab_bot
    real = sessions.attach_thread
    early: list[dict[str, Any]] = []

    def reply_before_saving(engine: Any, session_id: int, thread_ts: str) -> None:
        message = bot.slack.post_user_message(CHANNEL, "too quick?", user=BOB, thread_ts=thread_ts)
        early.append(message)
        if not event_after_save:
            assert bot.sender.event(message_event(CHANNEL, message)).status_code == 200
        real(engine, session_id, thread_ts)
        if event_after_save:
            assert bot.sender.event(message_event(CHANNEL, message)).status_code == 200

    monkeypatch.setattr(sessions, "attach_thread", reply_before_saving)
    root = _start(bot, _job(bot, tmp_path))
    (pair,) = _wait_pairs(bot, root, 1)
    assert "reply one to too quick?" in json.dumps(pair)
    time.sleep(0.5)  # a second answer, if any, would have been posted by now
    assert len(_pairs(bot, root)) == 1
    with session_scope(bot.ctx.engine) as db:
        (prompt,) = db.exec(select(AbPrompt)).all()
    assert prompt.slack_ts == early[0]["ts"] and prompt.author_id == BOB


def test_retries_bot_messages_edits_and_other_threads_are_not_prompts(
    ab_bot: RunningBot, tmp_path: Path
) -> None:
    bot = ab_bot
    root = _start(bot, _job(bot, tmp_path))
    message = _prompt(bot, root, "hello")
    event = message_event(CHANNEL, message)
    bot.sender.event(event, retry_num=1)
    (pair,) = _wait_pairs(bot, root, 1)
    bot.sender.event(message_event(CHANNEL, pair))  # the bot's own reply
    bot.sender.event(
        {**event, "subtype": "message_changed", "message": {**message, "text": "edit"}}
    )
    other = bot.slack.post_user_message(CHANNEL, "unrelated", user=BOB)
    reply = bot.slack.post_user_message(CHANNEL, "not a prompt", user=BOB, thread_ts=other["ts"])
    assert bot.sender.event(message_event(CHANNEL, reply)).status_code == 200
    _prompt(bot, root, "second prompt")
    _wait_pairs(bot, root, 2)
    with session_scope(bot.ctx.engine) as db:
        texts = [p.text for p in db.exec(select(AbPrompt).order_by(AbPrompt.id)).all()]
    assert texts == ["hello", "second prompt"]


def test_votes_one_per_person_changeable_with_ephemeral_reveal_and_scoreboard(
    ab_bot: RunningBot, tmp_path: Path
) -> None:
    bot = ab_bot
    root = _start(bot, _job(bot, tmp_path))
    _prompt(bot, root, "Name a colour")
    (pair,) = _wait_pairs(bot, root, 1)
    _vote(bot, pair, ALICE, "ab_vote_a")
    reveal = bot.slack.wait_for(lambda: bot.slack.ephemerals(CHANNEL, ALICE), timeout=WAIT)[0]
    assert "You voted *A is better*" in reveal["text"]
    assert FT in reveal["text"] and BASE in reveal["text"]
    _vote(bot, pair, ALICE, "ab_vote_b")
    changed = bot.slack.wait_for(
        lambda: [e for e in bot.slack.ephemerals(CHANNEL, ALICE) if "changed" in e["text"]],
        timeout=WAIT,
    )
    assert "from *A is better* to *B is better*" in changed[0]["text"]
    _vote(bot, pair, BOB, "ab_vote_tie")  # the prompt's author votes like anyone else
    bot.slack.wait_for(lambda: bot.slack.ephemerals(CHANNEL, BOB), timeout=WAIT)
    with session_scope(bot.ctx.engine) as db:
        votes = {v.user_id: v.choice for v in db.exec(select(AbVote)).all()}
    assert votes == {ALICE: "b", BOB: "tie"}
    # No public message names the models of a prompt; the scoreboard shows the votes.
    public = [m for m in bot.slack.messages(CHANNEL, root["ts"])]
    assert all(FT not in json.dumps(m) for m in public)
    board = bot.slack.wait_for(
        lambda: (
            "votes: *2* from 2 people" in json.dumps(bot.slack.message(CHANNEL, root["ts"]))
            and bot.slack.message(CHANNEL, root["ts"])
        ),
        timeout=WAIT,
        message="scoreboard with two votes",
    )
    assert "not enough evidence yet" in json.dumps(board)


def test_a_vote_in_the_throttle_window_is_on_the_scoreboard_after_stop(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    # A minute between edits: the second vote's edit waits on a timer, and a stop
    # (a deploy) makes it at once rather than losing it or running it after dispose().
    bot = start_ab_bot(tmp_path, fake_slack, fake_openai, TUNEBOT_MIN_EDIT_SECONDS=60)
    try:
        root = _start(bot, _job(bot, tmp_path))
        _prompt(bot, root, "Name a colour")
        (pair,) = _wait_pairs(bot, root, 1)
        for user in (ALICE, BOB):
            _vote(bot, pair, user, "ab_vote_a")
            bot.slack.wait_for(lambda u=user: bot.slack.ephemerals(CHANNEL, u), timeout=WAIT)
        board = json.dumps(bot.slack.message(CHANNEL, root["ts"]))
        assert "votes: *2*" not in board, "the second edit was not held by the throttle"
    finally:
        bot.stop()
    assert "votes: *2* from 2 people" in json.dumps(bot.slack.message(CHANNEL, root["ts"]))


def test_failed_model_is_shown_and_not_counted(
    ab_bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    bot = ab_bot
    root = _start(bot, _job(bot, tmp_path))
    fake_openai.fail_next("chat.completions", status=400, model=BASE)
    _prompt(bot, root, "will fail")
    (pair,) = _wait_pairs(bot, root, 1)
    dumped = json.dumps(pair)
    assert "not counted" in dumped and '"actions"' not in dumped and BASE not in dumped
    with session_scope(bot.ctx.engine) as db:
        assert db.exec(select(AbPrompt)).one().status == "failed"


def test_command_with_few_shot_results_and_exports(
    ab_bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    bot = ab_bot
    _job(bot, tmp_path)
    assert (
        bot.sender.command(f"ab {JOB} --few-shot", user_id=ALICE, channel_id=CHANNEL).status_code
        == 200
    )
    started = bot.slack.wait_for(lambda: bot.slack.responses(CHANNEL, ALICE), timeout=WAIT)[0]
    assert "Started A/B test" in started["text"]
    root = _roots(bot)[0]
    bot.slack.wait_for(lambda: _session_thread(bot) == root["ts"], timeout=WAIT)
    assert "few-shot" in json.dumps(root)
    with session_scope(bot.ctx.engine) as db:
        session = db.exec(select(AbSession)).one()
    assert session.few_shot_prompt and "Example 1" in session.few_shot_prompt
    for text in ("one", "two"):  # rotation: base, then base + few-shot prompt
        _prompt(bot, root, text)
    pairs = _wait_pairs(bot, root, 2)
    few_shot_calls = [r for r in fake_openai.requests("chat.completions") if r.model == BASE]
    assert len(few_shot_calls) == 2
    _vote(bot, pairs[0], ALICE, "ab_vote_a")
    # Votes are stored after the ack; the reveal says this one is in.
    bot.slack.wait_for(lambda: bot.slack.ephemerals(CHANNEL, ALICE), timeout=WAIT)
    _confirmed_results(bot, session.short_id, ALICE)
    uploads = bot.slack.wait_for(
        lambda: (
            len(bot.slack.uploads(CHANNEL, root["ts"])) >= 2
            and bot.slack.uploads(CHANNEL, root["ts"])
        ),
        timeout=WAIT,
    )
    names = sorted(u["filename"] for u in uploads)
    assert names == [f"{session.short_id}-preferences.jsonl", f"{session.short_id}-prompts.csv"]
    csv_text = next(u for u in uploads if u["filename"].endswith(".csv"))["content"].decode()
    assert "base + few-shot" not in csv_text and "few_shot" in csv_text
    table = bot.slack.wait_for(
        lambda: [
            m for m in bot.slack.bot_messages(CHANNEL, root["ts"]) if "Results of" in m["text"]
        ],
        timeout=WAIT,
    )
    dumped = json.dumps(table[0]["blocks"])
    assert "A/B/tie/bad" in dumped and "both_bad" not in dumped


def _confirmed_results(bot: RunningBot, short_id: str, user: str) -> None:
    """``ab results`` asks first; the results come only from the confirmed button."""
    before = len(bot.slack.responses(CHANNEL, user))
    bot.sender.command(f"ab results {short_id}", user_id=user, channel_id=CHANNEL)
    replies = bot.slack.wait_for(
        lambda: len(r := bot.slack.responses(CHANNEL, user)) > before and r, timeout=WAIT
    )
    question = replies[-1]
    buttons = [
        e for b in question.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]
    ]
    assert [b["action_id"] for b in buttons] == ["ab_results"], question
    assert buttons[0]["text"]["text"] == "Post results and unblind"
    assert buttons[0]["confirm"]["deny"]["text"] == "Keep it blind"
    assert "no longer blind" in question["text"]
    assert not _result_tables(bot)  # nothing unblinded by the command alone
    # The click on the ephemeral question (Slack sends it with that message).
    response = bot.sender.action(
        "ab_results", user_id=user, channel_id=CHANNEL, message={"ts": "1.0", **question}
    )
    assert response.status_code == 200


def _result_tables(bot: RunningBot) -> list[dict[str, Any]]:
    return [m for m in bot.slack.bot_messages(CHANNEL) if "Results of" in (m.get("text") or "")]


def test_only_the_creator_or_an_admin_unblinds_and_jobs_stay_in_their_channel(
    ab_bot: RunningBot, tmp_path: Path
) -> None:
    bot = ab_bot
    parent = _job(bot, tmp_path)
    _start(bot, parent, user=ALICE)
    with session_scope(bot.ctx.engine) as db:
        short_id = db.exec(select(AbSession)).one().short_id
    # Bob did not start it and is no admin: refused, by command and by a forged click.
    bot.sender.command(f"ab results {short_id}", user_id=BOB, channel_id=CHANNEL)
    refusal = bot.slack.wait_for(lambda: bot.slack.responses(CHANNEL, BOB), timeout=WAIT)[0]
    assert "Only <@U0ALICE>" in refusal["text"] and not refusal.get("blocks")
    forged = {"ts": "1.0", "text": "x", "blocks": build_unblind_confirm(short_id, 1)["blocks"]}
    bot.sender.action("ab_results", user_id=BOB, channel_id=CHANNEL, message=forged)
    bot.slack.wait_for(lambda: bot.slack.ephemerals(CHANNEL, BOB), timeout=WAIT)
    assert not _result_tables(bot)
    # From another channel, the job and the session are not found.
    other = "C0OTHER"
    bot.slack.add_channel(other, name="elsewhere")
    for text in (
        f"cancel {JOB}",
        f"ab {JOB} --few-shot",
        f"ab heldout {JOB}",
        f"ab results {short_id}",
    ):
        assert bot.sender.command(text, user_id=ALICE, channel_id=other).status_code == 200
    answers = bot.slack.wait_for(
        lambda: len(r := bot.slack.responses(other, ALICE)) >= 4 and r, timeout=WAIT
    )
    texts = [a["text"] for a in answers]
    assert all(
        ("No job" in t or "not a job I know" in t or "No A/B session" in t) for t in texts
    ), texts
    assert len(_roots(bot)) == 1  # no second session was started from elsewhere
    # The creator, in the session's channel, after confirming: the results.
    _confirmed_results(bot, short_id, ALICE)
    bot.slack.wait_for(lambda: _result_tables(bot), timeout=WAIT)


def test_bad_input_gets_usage_not_a_crash(ab_bot: RunningBot, tmp_path: Path) -> None:
    bot = ab_bot
    _job(bot, tmp_path)
    for text in ("ab", "ab nosuchjob", "ab results ab-nope", f"ab {JOB} --bogus", "ab x vs"):
        assert bot.sender.command(text, user_id=BOB, channel_id=CHANNEL).status_code == 200
    replies = bot.slack.wait_for(
        lambda: len(bot.slack.responses(CHANNEL, BOB)) >= 5 and bot.slack.responses(CHANNEL, BOB),
        timeout=WAIT,
    )
    assert all("Usage" in r["text"] for r in replies), [r["text"] for r in replies]
    assert not _roots(bot)


def test_long_answer_is_cut_and_attached_in_full_without_naming_the_model(
    ab_bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    bot = ab_bot
    long_answer = "".join(f"Sentence number {i} of a long answer. " for i in range(85))
    fake_openai.set_responder(FT, lambda m, b: long_answer)
    root = _start(bot, _job(bot, tmp_path))
    _prompt(bot, root, "Tell me everything")
    (pair,) = _wait_pairs(bot, root, 1)
    shown_text = next(
        b["text"]["text"]
        for b in pair["blocks"]
        if "Sentence number 0" in b.get("text", {}).get("text", "")
    )
    assert len(shown_text) < len(long_answer) and "Sentence number 84" not in shown_text
    assert "full texts are attached" in json.dumps(pair)
    (upload,) = bot.slack.wait_for(lambda: bot.slack.uploads(CHANNEL, root["ts"]), timeout=WAIT)
    assert upload["content"].decode() == long_answer
    assert upload["filename"] in ("prompt-1-response-A.txt", "prompt-1-response-B.txt")
    assert FT not in json.dumps({k: upload[k] for k in ("filename", "title")})


def test_scoreboard_edits_are_throttled_but_the_last_vote_shows(
    ab_bot: RunningBot, tmp_path: Path
) -> None:
    bot = ab_bot
    bot.ctx.settings.min_edit_seconds = 1.0
    root = _start(bot, _job(bot, tmp_path))
    _prompt(bot, root, "Vote on me")
    (pair,) = _wait_pairs(bot, root, 1)
    started = time.monotonic()
    voters = [f"U0VOTER{i}" for i in range(8)]
    for user in voters:
        bot.slack.add_user(user)
        _vote(bot, pair, user, "ab_vote_a")
    bot.slack.wait_for(
        lambda: "votes: *8* from 8 people" in json.dumps(bot.slack.message(CHANNEL, root["ts"])),
        timeout=WAIT,
        message="scoreboard with all eight votes",
    )
    elapsed = time.monotonic() - started
    edits = [c for c in bot.slack.calls("chat.update") if c.args.get("ts") == root["ts"]]
    # At most one edit per second (plus the trailing one), not one per vote.
    assert len(edits) <= elapsed / 1.0 + 2, (len(edits), elapsed)
    assert len(edits) < len(voters)


def test_prompt_left_pending_by_a_dead_process_is_answered_by_the_scheduler(
    ab_bot: RunningBot, tmp_path: Path
) -> None:
    bot = ab_bot
    root = _start(bot, _job(bot, tmp_path))
    with session_scope(bot.ctx.engine) as db:
        session = db.exec(select(AbSession)).one()
    # What a process killed after recording the prompt leaves behind.
    message = bot.slack.post_user_message(CHANNEL, "orphan", user=BOB, thread_ts=root["ts"])
    prompt = record_prompt(
        bot.ctx.engine, session, slack_ts=message["ts"], author_id=BOB, text="orphan"
    )
    with session_scope(bot.ctx.engine) as db:
        row = db.get(AbPrompt, prompt.id)
        row.claimed_at = row.claimed_at - timedelta(minutes=10)
        db.add(row)
    evaluation_tick(bot.ctx)
    (pair,) = _wait_pairs(bot, root, 1)
    assert "reply one to orphan" in json.dumps(pair)
    evaluation_tick(bot.ctx)  # nothing left to resume
    assert len(_pairs(bot, root)) == 1


def test_only_allowed_people_start_sessions(ab_bot: RunningBot, tmp_path: Path) -> None:
    bot = ab_bot
    bot.ctx.authorizer = Authorizer(admins=[ALICE], usergroup=None, client=bot.ctx.client)
    parent = _job(bot, tmp_path)
    bot.sender.action("ab_start", user_id=BOB, value=JOB, channel_id=CHANNEL, message=parent)
    bot.sender.command(f"ab {JOB}", user_id=BOB, channel_id=CHANNEL)
    refusal = bot.slack.wait_for(lambda: bot.slack.ephemerals(CHANNEL, BOB), timeout=WAIT)[0]
    assert "Only tunebot admins" in refusal["text"]
    reply = bot.slack.wait_for(lambda: bot.slack.responses(CHANNEL, BOB), timeout=WAIT)[0]
    assert "Only tunebot admins" in reply["text"]
    assert not _roots(bot)


def test_the_result_messages_own_button_starts_the_session(
    ab_bot: RunningBot, tmp_path: Path
) -> None:
    """The contract with the progress scheduler: its own "Start A/B test" button, as rendered."""
    bot = ab_bot
    parent = _job(bot, tmp_path)
    label = JobLabel(
        short_id=JOB, provider="openai", base_model=BASE, started_by=ALICE, fine_tuned_model=FT
    )
    posted = bot.ctx.client.chat_postMessage(
        channel=CHANNEL,
        thread_ts=parent["ts"],
        **build_result_message(label, ResultFacts()),
    )
    result = bot.slack.message(CHANNEL, posted["ts"])
    response = bot.sender.action("ab_start", user_id=ALICE, channel_id=CHANNEL, message=result)
    assert response.status_code == 200
    root = bot.slack.wait_for(lambda: _roots(bot), timeout=WAIT, message="session root")[0]
    assert FT in json.dumps(root["blocks"])  # the root names the arms; pairs never do


def test_two_models_without_a_job(ab_bot: RunningBot, fake_openai: FakeOpenAI) -> None:
    bot = ab_bot
    fake_openai.set_responder("gpt-4o", lambda m, b: "reply three")
    bot.sender.command(
        "ab gpt-4o vs gpt-4o-mini --provider openai", user_id=ALICE, channel_id=CHANNEL
    )
    bot.slack.wait_for(lambda: bot.slack.responses(CHANNEL, ALICE), timeout=WAIT)
    root = _roots(bot)[0]
    bot.slack.wait_for(lambda: _session_thread(bot) == root["ts"], timeout=WAIT)
    with session_scope(bot.ctx.engine) as db:
        session = db.exec(select(AbSession)).one()
    assert (session.candidate_model, session.baseline_model) == ("gpt-4o", "gpt-4o-mini")
    assert (session.candidate_label, session.baseline_label) == ("gpt-4o", "gpt-4o-mini")
    _prompt(bot, root, "hi")
    (pair,) = _wait_pairs(bot, root, 1)
    assert "gpt-4o" not in json.dumps(pair)
