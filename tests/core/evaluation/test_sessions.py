from __future__ import annotations

import random
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from core.errors import EvaluationError
from core.evaluation import sessions, votes
from core.evaluation.arms import Arm, Generation
from core.store.engine import session_scope
from core.store.evaluation import AbPrompt, AbResponse
from tests.core.evaluation.conftest import ScriptedProvider


def _answer(prefix: str):  # type: ignore[no-untyped-def]
    return lambda messages: f"{prefix}: {messages[-1]['content']}"


def _session(engine: Engine, *, few_shot: str | None = None, request: str = "r1"):  # type: ignore[no-untyped-def]
    return sessions.create_session(
        engine,
        request_id=request,
        channel_id="C1",
        created_by="U1",
        candidate=Arm("candidate", "worker", "ft:tiny"),
        baseline=Arm("baseline", "worker", "tiny"),
        few_shot_prompt=few_shot,
        generation=Generation(temperature=0.2, max_tokens=64, seed=5),
    )


def test_create_is_idempotent_per_request(engine: Engine) -> None:
    first, created = _session(engine)
    again, created_again = _session(engine)
    assert created and not created_again and again.id == first.id
    sessions.attach_thread(engine, first.id, "111.1")
    assert sessions.session_for_thread(engine, "C1", "111.1").id == first.id
    assert sessions.session_for_thread(engine, "C1", "999.9") is None
    assert sessions.find_session(engine, first.short_id).id == first.id


def test_prompt_recorded_once_with_recorded_random_slot(engine: Engine) -> None:
    session, _ = _session(engine)
    rng = random.Random(3)
    expected = [random.Random(3).choice(("A", "B"))]
    prompt = sessions.record_prompt(
        engine, session, slack_ts="1.1", author_id="U2", text=" hi ", rng=rng
    )
    assert prompt is not None and prompt.text == "hi"
    assert prompt.candidate_position == expected[0]
    assert (
        sessions.record_prompt(engine, session, slack_ts="1.1", author_id="U2", text="hi") is None
    )
    with pytest.raises(EvaluationError):
        sessions.record_prompt(engine, session, slack_ts="1.2", author_id="U2", text="   ")
    with pytest.raises(EvaluationError, match="limit"):
        sessions.record_prompt(engine, session, slack_ts="1.3", author_id="U2", text="x" * 9000)


def test_few_shot_arm_rotates_with_baseline(engine: Engine) -> None:
    session, _ = _session(engine, few_shot="Answer like these examples.")
    opponents = [
        sessions.record_prompt(engine, session, slack_ts=f"2.{i}", author_id="U", text="q").opponent
        for i in range(4)
    ]
    assert opponents == ["baseline", "few_shot", "baseline", "few_shot"]
    assert sessions.arms_of(session)["few_shot"].messages([{"role": "user", "content": "q"}])[
        0
    ] == {"role": "system", "content": "Answer like these examples."}


def test_generate_stores_both_answers_in_their_slots(
    engine: Engine, scripted: ScriptedProvider
) -> None:
    scripted.set("ft:tiny", _answer("ft"))
    scripted.set("tiny", _answer("base"))
    session, _ = _session(engine)
    prompt = sessions.record_prompt(
        engine, session, slack_ts="3.1", author_id="U2", text="capital?", rng=random.Random(0)
    )
    pair = sessions.generate(engine, session, prompt, providers={"worker": scripted})
    assert pair.counted
    by_slot = {pair.response_a.position: pair.response_a, pair.response_b.position: pair.response_b}
    assert by_slot[prompt.candidate_position].text == "ft: capital?"
    assert {c["temperature"] for c in scripted.calls} == {0.2}
    assert {c["seed"] for c in scripted.calls} == {5}
    assert {c["max_tokens"] for c in scripted.calls} == {64}


def test_a_failing_model_marks_the_prompt_uncounted(
    engine: Engine, scripted: ScriptedProvider
) -> None:
    scripted.set("ft:tiny", _answer("ft"))
    scripted.set("tiny", _answer("base"), fail=True)
    session, _ = _session(engine)
    prompt = sessions.record_prompt(engine, session, slack_ts="4.1", author_id="U2", text="q")
    pair = sessions.generate(engine, session, prompt, providers={"worker": scripted})
    assert not pair.counted
    failed = [r for r in (pair.response_a, pair.response_b) if r.error]
    assert len(failed) == 1 and "did not answer" in (failed[0].error or "")
    with pytest.raises(EvaluationError, match="not counted"):
        votes.cast_vote(engine, prompt_id=prompt.id, user_id="U3", choice="a")
    board = votes.scoreboard(engine, session)
    assert (board.prompts, board.counted_prompts, board.failed_prompts) == (1, 0, 1)


def _answered_prompt(engine: Engine, scripted: ScriptedProvider, session: Any, ts: str, slot: str):  # type: ignore[no-untyped-def]
    scripted.set("ft:tiny", _answer("ft"))
    scripted.set("tiny", _answer("base"))
    prompt = sessions.record_prompt(engine, session, slack_ts=ts, author_id="U2", text="q")
    prompt.candidate_position = slot
    with session_scope(engine) as db:
        db.add(prompt)
    sessions.generate(engine, session, prompt, providers={"worker": scripted})
    return prompt


def test_one_vote_per_person_changeable_and_tallied(
    engine: Engine, scripted: ScriptedProvider
) -> None:
    session, _ = _session(engine)
    prompt = _answered_prompt(engine, scripted, session, "5.1", "B")
    first = votes.cast_vote(engine, prompt_id=prompt.id, user_id="U7", choice="a")
    assert first.previous is None
    changed = votes.cast_vote(engine, prompt_id=prompt.id, user_id="U7", choice="b")
    assert changed.previous == "a"
    votes.cast_vote(engine, prompt_id=prompt.id, user_id="U2", choice="tie")  # the author votes too
    board = votes.scoreboard(engine, session)
    assert (board.votes, board.voters) == (2, 2)
    shown = board.vote_tallies["baseline"]  # the votes as cast
    assert (shown.wins, shown.losses, shown.ties, shown.b_wins) == (1, 0, 1, 1)
    decided = board.summaries["baseline"].tally  # one decision for the prompt: 1 win vs 1 tie
    assert (decided.wins, decided.losses, decided.ties, decided.b_wins) == (0, 0, 1, 0)
    reveal = votes.reveal(engine, prompt.id)
    assert reveal["B"].model == "ft:tiny" and reveal["A"].model == "tiny"
    with pytest.raises(EvaluationError):
        votes.cast_vote(engine, prompt_id=prompt.id, user_id="U7", choice="maybe")


def test_racing_clicks_leave_one_vote(engine: Engine, scripted: ScriptedProvider) -> None:
    session, _ = _session(engine)
    prompt = _answered_prompt(engine, scripted, session, "6.1", "A")
    barrier = threading.Barrier(6)

    def click(choice: str) -> None:
        barrier.wait()
        votes.cast_vote(engine, prompt_id=prompt.id, user_id="U9", choice=choice)

    threads = [threading.Thread(target=click, args=(c,)) for c in "ab" * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(votes.vote_counts(engine, prompt.id).values()) == 1


def test_scoreboard_edit_claims_are_throttled(engine: Engine) -> None:
    session, _ = _session(engine)
    assert sessions.claim_scoreboard_edit(engine, session.id, min_interval_s=30) == 0.0
    wait = sessions.claim_scoreboard_edit(engine, session.id, min_interval_s=30)
    assert 25 < wait <= 30
    assert sessions.claim_scoreboard_edit(engine, session.id, min_interval_s=0) == 0.0


def test_responses_record_which_model_was_a(engine: Engine, scripted: ScriptedProvider) -> None:
    session, _ = _session(engine)
    prompt = _answered_prompt(engine, scripted, session, "7.1", "A")
    with session_scope(engine) as db:
        rows = db.exec(select(AbResponse).where(AbResponse.prompt_id == prompt.id)).all()
    assert {(r.arm, r.position) for r in rows} == {("candidate", "A"), ("baseline", "B")}


def test_stale_pending_prompts_are_claimed_once(engine: Engine) -> None:
    session, _ = _session(engine)
    fresh = sessions.record_prompt(engine, session, slack_ts="8.1", author_id="U", text="new")
    stale = sessions.record_prompt(engine, session, slack_ts="8.2", author_id="U", text="old")
    with session_scope(engine) as db:
        row = db.get(AbPrompt, stale.id)
        row.claimed_at = row.claimed_at - timedelta(minutes=30)
        db.add(row)
    claimed = sessions.claim_stale_prompts(engine, older_than=timedelta(minutes=5))
    assert [(s.id, p.id) for s, p in claimed] == [(session.id, stale.id)]
    assert fresh.id != stale.id
    assert sessions.claim_stale_prompts(engine, older_than=timedelta(minutes=5)) == []
