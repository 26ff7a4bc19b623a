"""LLM-as-judge, asked in both orders so position bias cancels out.

Judges favour whichever answer comes first (or second) more often than chance.
Each pair is therefore judged twice with the slots swapped; only an answer that
wins in both orders wins, and any disagreement counts as a tie. How often the
judge picked slot A is reported, which exposes the bias the swap removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.evaluation.arms import Answer, Arm, ChatProvider, Generation, ask
from core.evaluation.blinding import POSITIONS
from core.evaluation.stats import Tally

CHOICE_A = "a"
CHOICE_B = "b"
CHOICE_TIE = "tie"
CHOICE_INVALID = "invalid"

# Outcomes from the candidate's point of view.
CANDIDATE = "candidate"
BASELINE = "baseline"
TIE = "tie"

JUDGE_SYSTEM = (
    "You are an impartial judge comparing two assistant responses to the same "
    "conversation. Judge correctness, helpfulness and how well each follows the "
    "user's instructions. Do not let the order of the responses, their length or "
    "their style decide. Explain briefly if you like, then end with exactly one "
    "line: 'Verdict: A', 'Verdict: B' or 'Verdict: tie'."
)

_BRACKETED = re.compile(r"\[\[\s*(a|b|tie|c)\s*\]\]", re.IGNORECASE)
_VERDICT = re.compile(
    r"(?:verdict|winner|decision|better (?:response|answer)|preferred (?:response|answer))"
    r"\s*(?:is)?\s*[:=\-]?\s*[*_`\"'(\[]*\s*"
    r"(?:response|assistant|answer|output)?\s*(?:an?\s+)?(a|b|tie|equal|neither|both)\b",
    re.IGNORECASE,
)
_BETTER = re.compile(
    r"\b(?:response|assistant|answer|output)?\s*(a|b)\s+is\s+(?:better|superior|preferred)",
    re.IGNORECASE,
)
_TIE_WORDS = {"tie", "equal", "neither", "both", "c"}


def parse_choice(text: str | None) -> str:
    """Read the judge's answer as ``a``, ``b``, ``tie`` or ``invalid``.

    Accepts the requested "Verdict: X" line (the last one wins: judges often
    restate), MT-bench's "[[A]]", a bare "A"/"B"/"tie", and "Response A is
    better". Anything ambiguous is ``invalid`` and counts as a tie.
    """
    if not text or not text.strip():
        return CHOICE_INVALID
    for pattern in (_BRACKETED, _VERDICT):
        found = pattern.findall(text)
        if found:
            return _normalise(found[-1])
    bare = re.sub(r"[^a-z ]", "", text.strip().lower())
    bare = re.sub(r"^(response|assistant|answer|output)\s+", "", bare).strip()
    if bare in {"a", "b"} or bare in _TIE_WORDS:
        return _normalise(bare)
    better = {choice.lower() for choice in _BETTER.findall(text)}
    if len(better) == 1:
        return str(better.pop())
    return CHOICE_INVALID


def _normalise(word: str) -> str:
    word = word.lower()
    return CHOICE_TIE if word in _TIE_WORDS else word


def judge_messages(
    conversation: list[dict[str, Any]], first: str, second: str, *, reference: str | None
) -> list[dict[str, Any]]:
    """The judge's prompt: the conversation, then Response A and Response B."""
    lines = [f"{m.get('role')}: {m.get('content')}" for m in conversation]
    parts = ["[Conversation]\n" + "\n".join(lines)]
    if reference is not None:
        parts.append("[Reference answer from the dataset]\n" + reference)
    parts.append("[Response A]\n" + first)
    parts.append("[Response B]\n" + second)
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


@dataclass(frozen=True)
class JudgeCall:
    """One judgement: where the candidate sat, what the judge chose, its raw text."""

    candidate_position: str
    choice: str
    raw: str | None
    error: str | None = None

    @property
    def winner(self) -> str:
        """The winning arm of this single call, or ``tie``."""
        if self.choice not in (CHOICE_A, CHOICE_B):
            return TIE
        chosen = self.choice.upper()
        return CANDIDATE if chosen == self.candidate_position else BASELINE


@dataclass(frozen=True)
class JudgeOutcome:
    """Both orders and the combined result (disagreement is a tie)."""

    calls: tuple[JudgeCall, JudgeCall]

    @property
    def outcome(self) -> str:
        winners = {call.winner for call in self.calls}
        return winners.pop() if len(winners) == 1 else TIE


def judge_pair(
    conversation: list[dict[str, Any]],
    candidate_text: str,
    baseline_text: str,
    *,
    judge: Arm,
    providers: Mapping[str, ChatProvider],
    reference: str | None = None,
) -> JudgeOutcome:
    """Ask the judge twice, the candidate shown first as A and then as B.

    Temperature 0 so the two calls differ only in the order of the answers.
    """
    settings = Generation(temperature=0.0, max_tokens=256, seed=0)
    calls = []
    for position in POSITIONS:
        first, second = (
            (candidate_text, baseline_text) if position == "A" else (baseline_text, candidate_text)
        )
        messages = judge_messages(conversation, first, second, reference=reference)
        answer: Answer = ask(judge, messages, providers=providers, generation=settings)
        choice = parse_choice(answer.text) if answer.ok else CHOICE_INVALID
        calls.append(JudgeCall(position, choice, answer.text, answer.error))
    return JudgeOutcome(calls=(calls[0], calls[1]))


def judge_tally(outcomes: Iterable[JudgeOutcome]) -> Tally:
    """Combined wins/losses/ties, and per-call slot wins to expose position bias."""
    wins = losses = ties = a_wins = b_wins = 0
    for outcome in outcomes:
        combined = outcome.outcome
        wins += combined == CANDIDATE
        losses += combined == BASELINE
        ties += combined == TIE
        for call in outcome.calls:
            a_wins += call.choice == CHOICE_A
            b_wins += call.choice == CHOICE_B
    return Tally(wins=wins, losses=losses, ties=ties, a_wins=a_wins, b_wins=b_wins)
