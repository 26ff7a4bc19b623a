"""Votes on A/B prompts: one per person and prompt, changeable; tallies and reveals."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from core.errors import EvaluationError
from core.evaluation.sessions import opponents_of
from core.evaluation.stats import Summary, Tally, summarize
from core.store.datasets import utcnow
from core.store.engine import session_scope
from core.store.evaluation import (
    VOTE_CHOICES,
    AbPrompt,
    AbResponse,
    AbSession,
    AbVote,
)


@dataclass(frozen=True)
class VoteChange:
    """The vote now stored and the one it replaced (``None`` for a first vote)."""

    prompt: AbPrompt
    choice: str
    previous: str | None


def cast_vote(engine: Engine, *, prompt_id: int, user_id: str, choice: str) -> VoteChange:
    """Store or change ``user_id``'s vote on a prompt.

    The unique (prompt, user) constraint settles two clicks racing each other:
    the loser of the insert updates the winner's row instead.

    Raises:
        EvaluationError: unknown choice or prompt, or the prompt is not counted.
    """
    if choice not in VOTE_CHOICES:
        raise EvaluationError(f"Unknown vote {choice!r}.")
    with session_scope(engine) as db:
        prompt = db.get(AbPrompt, prompt_id)
    if prompt is None:
        raise EvaluationError("That A/B prompt no longer exists.")
    if prompt.status != "answered":
        raise EvaluationError(
            "Votes on this prompt are not counted: a model did not answer it.",
            hint="Post the prompt again to retry.",
        )
    for _attempt in range(2):
        try:
            return _upsert(engine, prompt, user_id, choice)
        except IntegrityError:
            continue
    raise EvaluationError("Your vote collided with another one; please click again.")


def _upsert(engine: Engine, prompt: AbPrompt, user_id: str, choice: str) -> VoteChange:
    with session_scope(engine) as db:
        vote = db.exec(
            select(AbVote).where(AbVote.prompt_id == prompt.id, AbVote.user_id == user_id)
        ).first()
        previous = vote.choice if vote is not None else None
        if vote is None:
            assert prompt.id is not None
            vote = AbVote(prompt_id=prompt.id, user_id=user_id, choice=choice)
        else:
            vote.choice = choice
            vote.updated_at = utcnow()
        db.add(vote)
    return VoteChange(prompt=prompt, choice=choice, previous=previous)


def reveal(engine: Engine, prompt_id: int) -> dict[str, AbResponse]:
    """The responses by slot ("A", "B"): which model said what."""
    with session_scope(engine) as db:
        rows = db.exec(select(AbResponse).where(AbResponse.prompt_id == prompt_id)).all()
    return {row.position: row for row in rows}


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


@dataclass(frozen=True)
class Scoreboard:
    """Counts for the root message, and a summary per opponent arm."""

    prompts: int
    counted_prompts: int
    failed_prompts: int
    votes: int
    voters: int
    summaries: dict[str, Summary]


def scoreboard(engine: Engine, session: AbSession) -> Scoreboard:
    """Tally the session's votes on counted prompts, per opponent."""
    with session_scope(engine) as db:
        prompts = db.exec(select(AbPrompt).where(AbPrompt.session_id == session.id)).all()
        rows = db.exec(
            select(AbVote.choice, AbVote.user_id, AbPrompt.opponent, AbPrompt.candidate_position)
            .join(AbPrompt, AbPrompt.id == AbVote.prompt_id)  # type: ignore[arg-type]
            .where(AbPrompt.session_id == session.id, AbPrompt.status == "answered")
        ).all()
    summaries = {}
    for opponent in opponents_of(session):
        votes = [(choice, pos) for choice, _user, opp, pos in rows if opp == opponent]
        summaries[opponent] = summarize(
            tally_votes(votes), min_decisive=session.min_decisive, alpha=session.alpha
        )
    return Scoreboard(
        prompts=len(prompts),
        counted_prompts=sum(p.status == "answered" for p in prompts),
        failed_prompts=sum(p.status == "failed" for p in prompts),
        votes=len(rows),
        voters=len({user for _c, user, _o, _p in rows}),
        summaries=summaries,
    )


def vote_counts(engine: Engine, prompt_id: int) -> dict[str, int]:
    """How many people chose each button on one prompt."""
    with session_scope(engine) as db:
        rows = db.exec(
            select(AbVote.choice, func.count())
            .where(AbVote.prompt_id == prompt_id)
            .group_by(AbVote.choice)
        ).all()
    counts = dict.fromkeys(VOTE_CHOICES, 0)
    counts.update({choice: int(n) for choice, n in rows})
    return counts
