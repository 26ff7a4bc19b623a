from __future__ import annotations

from typing import Any

import pytest

from core.evaluation.arms import Arm
from core.evaluation.judge import (
    BASELINE,
    CANDIDATE,
    TIE,
    JudgeCall,
    JudgeOutcome,
    judge_pair,
    judge_tally,
    parse_choice,
)
from core.evaluation.stats import summarize
from tests.core.evaluation.conftest import ScriptedProvider


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Verdict: A", "a"),
        ("Both are fine but B is more precise.\nVerdict: B", "b"),
        ("verdict - **tie**", "tie"),
        ("My final verdict is [[B]]", "b"),
        ("[[C]]", "tie"),
        ("A", "a"),
        ("Response B", "b"),
        ("  b.  ", "b"),
        ("Response A is better because it cites the source.", "a"),
        ("Verdict: A\n...on reflection, Verdict: B", "b"),
        ("Winner: Response A", "a"),
        ("**Verdict:** B", "b"),
        ("The better response is A.", "a"),
        ("Verdict: a tie, both are fine", "tie"),
        ("They are equal", "invalid"),
        ("A is better in tone, B is better in content", "invalid"),
        ("I cannot decide.", "invalid"),
        ("", "invalid"),
        (None, "invalid"),
    ],
)
def test_parse_choice(answer: str | None, expected: str) -> None:
    assert parse_choice(answer) == expected


def _outcome(first: str, second: str) -> JudgeOutcome:
    return JudgeOutcome(calls=(JudgeCall("A", first, first), JudgeCall("B", second, second)))


def test_only_agreement_in_both_orders_wins() -> None:
    assert _outcome("a", "b").outcome == CANDIDATE  # candidate picked in both slots
    assert _outcome("b", "a").outcome == BASELINE
    assert _outcome("a", "a").outcome == TIE  # same slot both times: position, not quality
    assert _outcome("a", "tie").outcome == TIE
    assert _outcome("invalid", "b").outcome == TIE


def _picks_first_slot(messages: list[dict[str, Any]]) -> str:
    return "Verdict: A"


def test_slot_biased_judge_is_exposed_and_cancelled(scripted: ScriptedProvider) -> None:
    scripted.set("judge", _picks_first_slot)
    judge = Arm("judge", "worker", "judge")
    outcomes = [
        judge_pair(
            [{"role": "user", "content": f"q{i}"}],
            "ft",
            "base",
            judge=judge,
            providers={"worker": scripted},
        )
        for i in range(12)
    ]
    summary = summarize(judge_tally(outcomes))
    assert summary.position_a_rate == 1.0 and summary.position_p_value is not None
    assert summary.position_p_value < 0.001
    assert (summary.tally.wins, summary.tally.losses, summary.tally.ties) == (0, 0, 12)
    # Each pair was shown both ways round.
    shown = [call["messages"][1]["content"] for call in scripted.calls[:2]]
    assert shown[0].index("ft") < shown[0].index("base")
    assert shown[1].index("base") < shown[1].index("ft")


def test_judge_failure_counts_as_tie(scripted: ScriptedProvider) -> None:
    scripted.set("judge", _picks_first_slot, fail=True)
    outcome = judge_pair(
        [{"role": "user", "content": "q"}],
        "ft",
        "base",
        judge=Arm("judge", "worker", "judge"),
        providers={"worker": scripted},
    )
    assert outcome.outcome == TIE
    assert all(call.error for call in outcome.calls)
