"""Votes on A/B prompts: one per person and prompt, changeable; tallies and reveals.

Two tallies: per vote (what people see: who clicked what) and per prompt (what
the statistics use). Several people voting on one prompt judge the same pair
of answers, so their votes are correlated; counting them as independent trials
would make the sign test overconfident (five colleagues agreeing on one easy
prompt would weigh like five prompts). Each prompt therefore gets one decision,
the choice most of its voters made, and the sign test runs over prompts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from core.errors import EvaluationError
from core.evaluation.sessions import opponents_of
from core.evaluation.stats import Summary, Tally, summarize
from core.store.ab import (
    choice_counts,
    counted_votes,
    get_prompt,
    prompts_of,
    responses_of,
    upsert_vote,
)
from core.store.datasets import utcnow
from core.store.evaluation import (
    VOTE_CHOICES,
    AbPrompt,
    AbResponse,
    AbSession,
    get_session,
)


@dataclass(frozen=True)
class VoteChange:
    """The vote now stored and the one it replaced (``None`` for a first vote)."""

    prompt: AbPrompt
    choice: str
    previous: str | None


def cast_vote(
    engine: Engine,
    *,
    prompt_id: int,
    user_id: str,
    choice: str,
    team_id: str | None = None,
    within_team: str | None = None,
) -> VoteChange:
    """Store or change ``user_id``'s vote on a prompt.

    The unique (prompt, user) constraint settles two clicks racing each other:
    the loser of the insert updates the winner's row instead.

    Parameters:
        team_id: the voter's workspace, recorded with the vote.
        within_team: when given, a prompt of another workspace's session is
            answered as unknown (never counted); None with one workspace.

    Raises:
        EvaluationError: unknown choice or prompt, or the prompt is not counted.
    """
    if choice not in VOTE_CHOICES:
        raise EvaluationError(f"Unknown vote {choice!r}.")
    prompt = get_prompt(engine, prompt_id=prompt_id)
    if prompt is not None and within_team is not None:
        session = get_session(engine, session_id=prompt.session_id)
        if session is None or session.team_id != within_team:
            prompt = None
    if prompt is None:
        raise EvaluationError("That A/B prompt no longer exists.")
    if prompt.status != "answered":
        raise EvaluationError(
            "Votes on this prompt are not counted: a model did not answer it.",
            hint="Post the prompt again to retry.",
        )
    for _attempt in range(2):
        try:
            previous = upsert_vote(
                engine,
                prompt_id=prompt_id,
                user_id=user_id,
                choice=choice,
                at=utcnow(),
                team_id=team_id,
            )
            return VoteChange(prompt=prompt, choice=choice, previous=previous)
        except IntegrityError:
            continue
    raise EvaluationError("Your vote collided with another one; please click again.")


def reveal(engine: Engine, prompt_id: int) -> dict[str, AbResponse]:
    """The responses by slot ("A", "B"): which model said what."""
    return {row.position: row for row in responses_of(engine, prompt_ids=[prompt_id])}


def tally_votes(votes: list[tuple[str, str]]) -> Tally:
    """Votes as (choice, candidate slot) pairs, counted from the candidate's side."""
    wins = losses = ties = both_bad = a_wins = b_wins = 0
    for choice, candidate_position in votes:
        if choice in ("a", "b"):
            won = choice.upper() == candidate_position
            wins += won
            losses += not won
            a_wins += choice == "a"
            b_wins += choice == "b"
        ties += choice == "tie"
        both_bad += choice == "both_bad"
    return Tally(wins, losses, ties, both_bad, a_wins, b_wins)


def prompt_decision(*, candidate: int, opponent: int, ties: int, both_bad: int) -> str:
    """One prompt's decision from its vote counts: the choice with the most votes.

    Returns ``candidate``, ``opponent``, ``tie``, ``both bad`` or ``no votes``;
    a lead shared by two choices (2 for one model, 2 for the other, or 1 vs 1
    tie) is a ``tie``: the voters did not settle it.
    """
    counts = {"candidate": candidate, "opponent": opponent, "tie": ties, "both bad": both_bad}
    top = max(counts.values())
    if top == 0:
        return "no votes"
    leaders = [name for name, n in counts.items() if n == top]
    return leaders[0] if len(leaders) == 1 else "tie"


def tally_prompts(prompts: Iterable[tuple[Sequence[str], str]]) -> Tally:
    """One decision per prompt (:func:`prompt_decision`), counted from the candidate's side.

    ``prompts``: each prompt's vote choices and the candidate's slot. Prompts
    without votes are left out; ``a_wins`` / ``b_wins`` count the slot that won
    each decided prompt (position bias, per prompt too).
    """
    wins = losses = ties = both_bad = a_wins = b_wins = 0
    for choices, candidate_position in prompts:
        if not choices:
            continue
        n = Counter(choices)
        candidate_slot = candidate_position.lower()
        opponent_slot = "b" if candidate_slot == "a" else "a"
        decision = prompt_decision(
            candidate=n[candidate_slot],
            opponent=n[opponent_slot],
            ties=n["tie"],
            both_bad=n["both_bad"],
        )
        wins += decision == "candidate"
        losses += decision == "opponent"
        ties += decision == "tie"
        both_bad += decision == "both bad"
        if decision in ("candidate", "opponent"):
            won = candidate_slot if decision == "candidate" else opponent_slot
            a_wins += won == "a"
            b_wins += won == "b"
    return Tally(wins, losses, ties, both_bad, a_wins, b_wins)


@dataclass(frozen=True)
class Scoreboard:
    """Counts for the root message, per opponent arm: the votes as cast, and the
    summary (win rate, test, verdict) over per-prompt decisions."""

    prompts: int
    counted_prompts: int
    failed_prompts: int
    votes: int
    voters: int
    summaries: dict[str, Summary]
    vote_tallies: dict[str, Tally]


def scoreboard(engine: Engine, session: AbSession) -> Scoreboard:
    """Tally the session's votes on counted prompts, per opponent: per vote for
    display, per prompt for the statistics."""
    assert session.id is not None
    prompts = prompts_of(engine, session_id=session.id)
    rows = counted_votes(engine, session_id=session.id)
    choices: dict[int, list[str]] = defaultdict(list)
    for choice, _user, prompt_id in rows:
        choices[prompt_id].append(choice)
    summaries, vote_tallies = {}, {}
    for opponent in opponents_of(session):
        mine = [p for p in prompts if p.opponent == opponent and p.id in choices]
        vote_tallies[opponent] = tally_votes(
            [(c, p.candidate_position) for p in mine for c in choices[p.id or 0]]
        )
        summaries[opponent] = summarize(
            tally_prompts((choices[p.id or 0], p.candidate_position) for p in mine),
            min_decisive=session.min_decisive,
            alpha=session.alpha,
        )
    return Scoreboard(
        prompts=len(prompts),
        counted_prompts=sum(p.status == "answered" for p in prompts),
        failed_prompts=sum(p.status == "failed" for p in prompts),
        votes=len(rows),
        voters=len({user for _c, user, _p in rows}),
        summaries=summaries,
        vote_tallies=vote_tallies,
    )


def vote_counts(engine: Engine, prompt_id: int) -> dict[str, int]:
    """How many people chose each button on one prompt."""
    return {**dict.fromkeys(VOTE_CHOICES, 0), **choice_counts(engine, prompt_id=prompt_id)}
