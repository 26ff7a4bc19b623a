"""Statistics of a pairwise comparison: win rate, Wilson interval, sign test, verdict.

Ties and "both bad" carry no information about which model is better, so they
are excluded from the win rate and the test (the classic sign test). The
verdict rule is fixed before the session starts and printed on the scoreboard,
so nobody stops a test the moment it looks good.

Example (the worked check from the A/B issue)::

    >>> s = summarize(Tally(wins=14, losses=5, ties=3))
    >>> round(s.win_rate, 3), round(s.ci_low, 3), round(s.ci_high, 3), round(s.p_value, 3)
    (0.737, 0.512, 0.882, 0.064)
    >>> s.verdict
    <Verdict.NO_DIFFERENCE: 'no significant difference'>
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from scipy.stats import binomtest, norm

MIN_DECISIVE = 10
ALPHA = 0.05


class Verdict(Enum):
    """The outcome of the fixed decision rule."""

    NOT_ENOUGH = "not enough evidence yet"
    CANDIDATE_BETTER = "fine-tuned is better"
    BASELINE_BETTER = "base is better"
    NO_DIFFERENCE = "no significant difference"

    def text(self, *, candidate: str = "fine-tuned", baseline: str = "base") -> str:
        """The verdict in words, naming the arms as the session does."""
        if self is Verdict.CANDIDATE_BETTER:
            return f"{candidate} is better"
        if self is Verdict.BASELINE_BETTER:
            return f"{baseline} is better"
        return str(self.value)


@dataclass(frozen=True)
class Tally:
    """Counts from the candidate's point of view.

    ``a_wins`` / ``b_wins`` count decisive outcomes by the slot that won, which
    is what exposes position bias (a fair, blind comparison sits near 50%).
    """

    wins: int = 0
    losses: int = 0
    ties: int = 0
    both_bad: int = 0
    a_wins: int = 0
    b_wins: int = 0

    @property
    def decisive(self) -> int:
        return self.wins + self.losses

    @property
    def total(self) -> int:
        return self.wins + self.losses + self.ties + self.both_bad

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            wins=self.wins + other.wins,
            losses=self.losses + other.losses,
            ties=self.ties + other.ties,
            both_bad=self.both_bad + other.both_bad,
            a_wins=self.a_wins + other.a_wins,
            b_wins=self.b_wins + other.b_wins,
        )


@dataclass(frozen=True)
class Summary:
    """Everything the scoreboard prints about one comparison."""

    tally: Tally
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    position_a_rate: float | None
    position_p_value: float | None
    verdict: Verdict
    min_decisive: int
    alpha: float


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Chosen over the normal ("Wald") interval because it stays inside [0, 1] and
    keeps its coverage at the small counts a Slack thread produces.

    Parameters:
        successes: number of successes (0 <= successes <= n).
        n: number of trials, > 0.
        confidence: two-sided confidence level.

    Raises:
        ValueError: n is not positive or successes is out of range.
    """
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes}/{n}")
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test p-value (ties already removed); 1.0 with no data."""
    if wins + losses == 0:
        return 1.0
    return float(binomtest(wins, wins + losses, 0.5, alternative="two-sided").pvalue)


def decide(
    wins: int, losses: int, *, min_decisive: int = MIN_DECISIVE, alpha: float = ALPHA
) -> Verdict:
    """Apply the rule: wait for ``min_decisive`` decisive outcomes, then test at ``alpha``.

    An outcome is whatever unit the tally counts: a prompt (A/B sessions decide
    each prompt by its voters' majority; held-out runs score each prompt once).
    """
    if wins + losses < min_decisive:
        return Verdict.NOT_ENOUGH
    if sign_test(wins, losses) >= alpha:
        return Verdict.NO_DIFFERENCE
    return Verdict.CANDIDATE_BETTER if wins > losses else Verdict.BASELINE_BETTER


def summarize(tally: Tally, *, min_decisive: int = MIN_DECISIVE, alpha: float = ALPHA) -> Summary:
    """Win rate (ties excluded), Wilson 95% interval, sign test, position bias, verdict."""
    decisive = tally.decisive
    win_rate = ci_low = ci_high = p_value = None
    if decisive:
        win_rate = tally.wins / decisive
        ci_low, ci_high = wilson_interval(tally.wins, decisive)
        p_value = sign_test(tally.wins, tally.losses)
    positional = tally.a_wins + tally.b_wins
    position_a_rate = tally.a_wins / positional if positional else None
    position_p = sign_test(tally.a_wins, tally.b_wins) if positional else None
    return Summary(
        tally=tally,
        win_rate=win_rate,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        position_a_rate=position_a_rate,
        position_p_value=position_p,
        verdict=decide(tally.wins, tally.losses, min_decisive=min_decisive, alpha=alpha),
        min_decisive=min_decisive,
        alpha=alpha,
    )


def rule_text(*, min_decisive: int = MIN_DECISIVE, alpha: float = ALPHA) -> str:
    """The decision rule of an A/B session, as shown on its scoreboard.

    It says what is counted: prompts, each decided by its voters' majority
    (see ``core.evaluation.votes``), not individual votes.
    """
    return (
        "Rule fixed before the session: each prompt counts once, decided by the majority "
        "of its votes (a shared lead is a tie). No verdict before "
        f"{min_decisive} decisive prompts (ties and both-bad excluded); then exact "
        f"two-sided sign test over those prompts, significant at p < {alpha:g}."
    )
