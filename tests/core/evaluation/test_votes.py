"""Per-prompt decisions: the unit the A/B statistics count (votes on one prompt are correlated)."""

from __future__ import annotations

import pytest

from core.evaluation.stats import Tally, Verdict, summarize
from core.evaluation.votes import prompt_decision, tally_prompts, tally_votes


@pytest.mark.parametrize(
    ("counts", "decision"),
    [
        ((3, 1, 0, 0), "candidate"),
        ((0, 2, 1, 0), "opponent"),
        ((2, 2, 0, 0), "tie"),  # a shared lead is not settled
        ((1, 0, 1, 0), "tie"),
        ((1, 0, 5, 0), "tie"),  # most voters called it even
        ((1, 1, 0, 3), "both bad"),
        ((1, 0, 0, 1), "tie"),
        ((0, 0, 0, 0), "no votes"),
    ],
)
def test_one_decision_per_prompt_by_majority(
    counts: tuple[int, int, int, int], decision: str
) -> None:
    candidate, opponent, ties, both_bad = counts
    assert (
        prompt_decision(candidate=candidate, opponent=opponent, ties=ties, both_bad=both_bad)
        == decision
    )


def test_many_voters_agreeing_on_few_prompts_is_not_evidence_yet() -> None:
    # Five people all prefer the candidate on each of three prompts. Counted as
    # fifteen independent votes that would be p = 0.00006, "better"; it is three
    # prompts, and three prompts decide nothing.
    prompts = [(["a"] * 5, "A"), (["b"] * 5, "B"), (["a"] * 5, "A")]
    per_vote = summarize(tally_votes([(c, slot) for cs, slot in prompts for c in cs]))
    assert per_vote.verdict is Verdict.CANDIDATE_BETTER  # what the old count claimed
    per_prompt = summarize(tally_prompts(prompts))
    assert (per_prompt.tally.wins, per_prompt.tally.decisive) == (3, 3)
    assert per_prompt.verdict is Verdict.NOT_ENOUGH


def test_worked_check_through_per_prompt_decisions() -> None:
    # 22 prompts with 1-3 voters each: 14 decided for the candidate, 5 against, 3 ties.
    wins = [(["a", "a", "b"], "A")] * 7 + [(["b"], "B")] * 7
    losses = [(["a", "b", "a"], "B")] * 5
    ties = [(["a", "b"], "A"), (["tie"], "B"), (["b", "tie"], "B")]
    tally = tally_prompts(wins + losses + ties + [([], "A")])  # an unvoted prompt is left out
    assert tally == Tally(wins=14, losses=5, ties=3, a_wins=7 + 5, b_wins=7)
    summary = summarize(tally)
    assert summary.win_rate == pytest.approx(0.737, abs=5e-4)
    assert (summary.ci_low, summary.ci_high) == pytest.approx((0.512, 0.882), abs=5e-4)
    assert summary.p_value == pytest.approx(0.064, abs=5e-4)
    assert summary.verdict is Verdict.NO_DIFFERENCE
    assert summary.position_a_rate == pytest.approx(12 / 19)
