"""Queries of A/B sessions, prompts, answers and votes (tables in :mod:`core.store.evaluation`).

The rules (blinding, opponent rotation, vote decisions, statistics) live in
:mod:`core.evaluation`; these functions only read and write rows. Conditional
UPDATEs make the claims (stale prompts, scoreboard edits) atomic across
threads and replicas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from core.store.datasets import utcnow
from core.store.engine import session_scope
from core.store.evaluation import AbPrompt, AbResponse, AbSession, AbVote


def insert_session(engine: Engine, *, row: AbSession) -> tuple[AbSession, bool]:
    """Store a new session; on a repeated request id return the stored one and False."""
    try:
        with session_scope(engine) as db:
            db.add(row)
        return row, True
    except IntegrityError:
        with session_scope(engine) as db:
            existing = db.exec(
                select(AbSession).where(AbSession.request_id == row.request_id)
            ).first()
        if existing is None:
            raise
        return existing, False


def attach_thread(engine: Engine, session_id: int, thread_ts: str) -> None:
    """Record the root message's ts: the thread the session lives in."""
    with session_scope(engine) as db:
        row = db.get(AbSession, session_id)
        if row is not None:
            row.thread_ts = thread_ts
            db.add(row)


def find_session(engine: Engine, short_id: str, *, team_id: str | None = None) -> AbSession | None:
    """A session by short id (of workspace ``team_id`` when given)."""
    with session_scope(engine) as db:
        query = select(AbSession).where(AbSession.short_id == short_id.strip())
        if team_id is not None:
            query = query.where(AbSession.team_id == team_id)
        return db.exec(query).first()


def session_for_thread(
    engine: Engine, channel_id: str, thread_ts: str, *, team_id: str | None = None
) -> AbSession | None:
    """The open session whose thread this is (in workspace ``team_id`` when given), if any."""
    with session_scope(engine) as db:
        query = select(AbSession).where(
            AbSession.channel_id == channel_id,
            AbSession.thread_ts == thread_ts,
            AbSession.status == "open",
        )
        if team_id is not None:
            query = query.where(AbSession.team_id == team_id)
        return db.exec(query).first()


def insert_prompt(
    engine: Engine, *, row: AbPrompt, opponent_for: Callable[[int], str]
) -> AbPrompt | None:
    """Store a prompt, then set its opponent from its 1-based number in the session.

    Insert first, then count: the insert takes the write lock, so two prompts
    arriving together see each other and get different numbers. None when the
    message was stored already (unique per Slack message).
    """
    try:
        with session_scope(engine) as db:
            db.add(row)
            db.flush()
            number = db.exec(
                select(func.count())
                .select_from(AbPrompt)
                .where(AbPrompt.session_id == row.session_id, col(AbPrompt.id) <= row.id)
            ).one()
            row.opponent = opponent_for(int(number))
            db.add(row)
        return row
    except IntegrityError:
        return None


def store_answers(
    engine: Engine, *, prompt_id: int, status: str, responses: Sequence[AbResponse]
) -> AbPrompt:
    """Store both answers and the prompt's status in one transaction."""
    with session_scope(engine) as db:
        stored = db.get(AbPrompt, prompt_id)
        assert stored is not None
        stored.status = status
        db.add(stored)
        for response in responses:
            db.add(response)
    return stored


def claim_stale_prompts(
    engine: Engine, *, older_than: timedelta, limit: int = 10
) -> list[tuple[AbSession, AbPrompt]]:
    """Take over prompts left pending by a process that died while answering them.

    Each claim is a compare-and-set on ``claimed_at``, so two replicas never
    answer the same prompt twice.
    """
    cutoff = utcnow() - older_than
    with session_scope(engine) as db:
        stale = db.exec(
            select(AbPrompt)
            .where(AbPrompt.status == "pending", col(AbPrompt.claimed_at) < cutoff)
            .order_by(col(AbPrompt.id))
            .limit(limit)
        ).all()
    claimed = []
    for prompt in stale:
        now = utcnow()
        with session_scope(engine) as db:
            taken = db.exec(
                update(AbPrompt)
                .where(col(AbPrompt.id) == prompt.id)
                .where(col(AbPrompt.claimed_at) == prompt.claimed_at)
                .where(col(AbPrompt.status) == "pending")
                .values(claimed_at=now)
            )
            session = db.get(AbSession, prompt.session_id)
        if taken.rowcount and session is not None:
            prompt.claimed_at = now
            claimed.append((session, prompt))
    return claimed


def set_message_ts(engine: Engine, prompt_id: int, message_ts: str) -> None:
    with session_scope(engine) as db:
        row = db.get(AbPrompt, prompt_id)
        if row is not None:
            row.message_ts = message_ts
            db.add(row)


def claim_scoreboard_edit(engine: Engine, session_id: int, *, min_interval_s: float) -> float:
    """Claim the right to edit the scoreboard now; returns 0, or seconds to wait.

    A conditional UPDATE makes the claim atomic across threads and replicas,
    so bursts of votes produce one edit per interval.
    """
    now = utcnow()
    cutoff = now - timedelta(seconds=min_interval_s)
    with session_scope(engine) as db:
        result = db.exec(
            update(AbSession)
            .where(col(AbSession.id) == session_id)
            .where(
                (col(AbSession.scoreboard_edited_at).is_(None))
                | (col(AbSession.scoreboard_edited_at) <= cutoff)
            )
            .values(scoreboard_edited_at=now)
        )
        if result.rowcount:
            return 0.0
        row = db.get(AbSession, session_id)
    if row is None or row.scoreboard_edited_at is None:
        return 0.0
    waited = (now - row.scoreboard_edited_at).total_seconds()
    return max(0.01, min_interval_s - waited)


def get_prompt(engine: Engine, *, prompt_id: int) -> AbPrompt | None:
    with session_scope(engine) as db:
        return db.get(AbPrompt, prompt_id)


def upsert_vote(
    engine: Engine,
    *,
    prompt_id: int,
    user_id: str,
    choice: str,
    at: datetime,
    team_id: str | None = None,
) -> str | None:
    """Store or change a person's vote; returns the choice it replaced, if any.

    Raises:
        IntegrityError: another click inserted the same (prompt, user) first.
    """
    with session_scope(engine) as db:
        vote = db.exec(
            select(AbVote).where(AbVote.prompt_id == prompt_id, AbVote.user_id == user_id)
        ).first()
        previous = vote.choice if vote is not None else None
        if vote is None:
            vote = AbVote(prompt_id=prompt_id, user_id=user_id, choice=choice, team_id=team_id)
        else:
            vote.choice = choice
            vote.updated_at = at
        db.add(vote)
    return previous


def responses_of(engine: Engine, *, prompt_ids: Sequence[int]) -> list[AbResponse]:
    with session_scope(engine) as db:
        return list(
            db.exec(select(AbResponse).where(col(AbResponse.prompt_id).in_(prompt_ids))).all()
        )


def prompts_of(engine: Engine, *, session_id: int) -> list[AbPrompt]:
    """The session's prompts in posting order."""
    with session_scope(engine) as db:
        return list(
            db.exec(
                select(AbPrompt).where(AbPrompt.session_id == session_id).order_by(col(AbPrompt.id))
            ).all()
        )


def counted_votes(engine: Engine, *, session_id: int) -> list[tuple[str, str, int]]:
    """(choice, user id, prompt id) of every vote on the session's counted prompts."""
    with session_scope(engine) as db:
        return [
            (choice, user, prompt_id)
            for choice, user, prompt_id in db.exec(
                select(AbVote.choice, AbVote.user_id, AbVote.prompt_id)
                .join(AbPrompt, AbPrompt.id == AbVote.prompt_id)  # type: ignore[arg-type]  # SQLModel types the join condition as bool
                .where(AbPrompt.session_id == session_id, AbPrompt.status == "answered")
            ).all()
        ]


def choice_counts(engine: Engine, *, prompt_id: int) -> dict[str, int]:
    """How many people chose each button on one prompt (buttons nobody chose are absent)."""
    with session_scope(engine) as db:
        rows = db.exec(
            select(AbVote.choice, func.count())
            .where(AbVote.prompt_id == prompt_id)
            .group_by(AbVote.choice)
        ).all()
    return {choice: int(n) for choice, n in rows}


def model_call_tokens(engine: Engine, *, since: datetime) -> list[tuple[str, str, int]]:
    """(provider, model, prompt + answer tokens) of A/B answers to prompts since ``since``."""
    tokens = func.coalesce(func.sum(AbResponse.prompt_tokens), 0) + func.coalesce(
        func.sum(AbResponse.completion_tokens), 0
    )
    with session_scope(engine) as session:
        query = (
            select(AbResponse.provider, AbResponse.model, tokens)
            .join(AbPrompt, col(AbPrompt.id) == col(AbResponse.prompt_id))
            .where(AbPrompt.created_at >= since)
            .group_by(AbResponse.provider, AbResponse.model)
        )
        return [(str(p), str(m), int(t or 0)) for p, m, t in session.exec(query).all()]
