from __future__ import annotations

import pytest
from scipy.stats import binomtest

from core.evaluation.stats import Tally, Verdict, decide, sign_test, summarize, wilson_interval


def test_worked_check_from_the_issue() -> None:
    summary = summarize(Tally(wins=14, losses=5, ties=3))
    assert summary.win_rate == pytest.approx(0.737, abs=5e-4)
    assert summary.ci_low == pytest.approx(0.512, abs=5e-4)
    assert summary.ci_high == pytest.approx(0.882, abs=5e-4)
    assert summary.p_value == pytest.approx(0.064, abs=5e-4)
    assert summary.verdict is Verdict.NO_DIFFERENCE


@pytest.mark.parametrize(("wins", "n"), [(14, 19), (0, 5), (5, 5), (1, 1), (37, 80), (3, 11)])
def test_wilson_and_sign_test_equal_scipy(wins: int, n: int) -> None:
    reference = binomtest(wins, n, 0.5)
    low, high = wilson_interval(wins, n)
    ci = reference.proportion_ci(confidence_level=0.95, method="wilson")
    assert (low, high) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert sign_test(wins, n - wins) == pytest.approx(reference.pvalue, rel=1e-12)


def test_wilson_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_verdict_waits_for_ten_decisive_votes_even_when_lopsided() -> None:
    # 9-0 has p = 0.0039 but the rule says wait; ties do not count toward the ten.
    assert decide(9, 0) is Verdict.NOT_ENOUGH
    assert summarize(Tally(wins=9, ties=30)).verdict is Verdict.NOT_ENOUGH
    assert decide(10, 0) is Verdict.CANDIDATE_BETTER
    assert decide(1, 12) is Verdict.BASELINE_BETTER
    assert decide(6, 4) is Verdict.NO_DIFFERENCE
    assert decide(14, 5) is Verdict.NO_DIFFERENCE  # p = 0.064 >= 0.05
    assert decide(15, 4) is Verdict.CANDIDATE_BETTER  # p = 0.019


def test_rule_parameters_are_the_sessions_own() -> None:
    assert decide(6, 0, min_decisive=5) is Verdict.CANDIDATE_BETTER
    assert decide(14, 5, alpha=0.1) is Verdict.CANDIDATE_BETTER


def test_position_bias_is_reported() -> None:
    summary = summarize(Tally(wins=10, losses=10, a_wins=18, b_wins=2))
    assert summary.position_a_rate == pytest.approx(0.9)
    assert summary.position_p_value == pytest.approx(binomtest(18, 20).pvalue)


def test_no_votes_means_no_numbers() -> None:
    summary = summarize(Tally())
    assert summary.win_rate is None and summary.p_value is None
    assert summary.verdict is Verdict.NOT_ENOUGH


def test_verdict_text_names_arms() -> None:
    assert Verdict.CANDIDATE_BETTER.text() == "fine-tuned is better"
    assert Verdict.BASELINE_BETTER.text(baseline="few-shot") == "few-shot is better"
    assert Verdict.NOT_ENOUGH.text() == "not enough evidence yet"
