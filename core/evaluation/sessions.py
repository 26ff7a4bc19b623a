"""A/B sessions: create, record prompts, generate both answers, tally.

The database holds everything (DESIGN.md: the database is the source of
truth), so a restart of the bot loses no prompt and no vote, and unique
constraints make a retried Slack event or a double click harmless.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from core.errors import EvaluationError
from core.evaluation import blinding
from core.evaluation.arms import Answer, Arm, ChatProvider, Generation, ask_both
from core.store.datasets import utcnow
from core.store.engine import session_scope
from core.store.evaluation import (
    BASELINE,
    CANDIDATE,
    FEW_SHOT,
    AbPrompt,
    AbResponse,
    AbSession,
)

MAX_PROMPT_CHARS = 8000


def new_short_id() -> str:
    """A short id people can type: ``ab-`` and six hex digits."""
    return "ab-" + secrets.token_hex(3)


def arms_of(session: AbSession) -> dict[str, Arm]:
    """The session's arms by key: candidate, baseline and maybe few-shot."""
    arms = {
        CANDIDATE: Arm(CANDIDATE, session.candidate_provider, session.candidate_model),
        BASELINE: Arm(BASELINE, session.baseline_provider, session.baseline_model),
    }
    if session.few_shot_prompt:
        arms[FEW_SHOT] = Arm(
            FEW_SHOT, session.baseline_provider, session.baseline_model, session.few_shot_prompt
        )
    return arms


def opponents_of(session: AbSession) -> list[str]:
    """Arms the candidate is compared with, in rotation order."""
    return [BASELINE, FEW_SHOT] if session.few_shot_prompt else [BASELINE]


def generation_of(session: AbSession) -> Generation:
    return Generation(
        temperature=session.temperature, max_tokens=session.max_tokens, seed=session.seed
    )


def create_session(
    engine: Engine,
    *,
    request_id: str,
    channel_id: str,
    created_by: str,
    candidate: Arm,
    baseline: Arm,
    few_shot_prompt: str | None = None,
    generation: Generation | None = None,
    job_id: int | None = None,
    labels: tuple[str, str] = ("fine-tuned", "base"),
) -> tuple[AbSession, bool]:
    """Create a session once per Slack request; returns (session, created).

    A retried or double-clicked request finds the existing row instead.

    Parameters:
        labels: what people call the candidate and the baseline on the scoreboard.
    """
    settings = generation or Generation()
    row = AbSession(
        short_id=new_short_id(),
        request_id=request_id,
        job_id=job_id,
        channel_id=channel_id,
        created_by=created_by,
        candidate_provider=candidate.provider,
        candidate_model=candidate.model,
        baseline_provider=baseline.provider,
        baseline_model=baseline.model,
        candidate_label=labels[0],
        baseline_label=labels[1],
        few_shot_prompt=few_shot_prompt,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        seed=settings.seed,
    )
    try:
        with session_scope(engine) as db:
            db.add(row)
        return row, True
    except IntegrityError:
        with session_scope(engine) as db:
            existing = db.exec(select(AbSession).where(AbSession.request_id == request_id)).first()
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


def find_session(engine: Engine, short_id: str) -> AbSession | None:
    with session_scope(engine) as db:
        return db.exec(select(AbSession).where(AbSession.short_id == short_id.strip())).first()


def session_for_thread(engine: Engine, channel_id: str, thread_ts: str) -> AbSession | None:
    """The open session whose thread this is, if any."""
    with session_scope(engine) as db:
        return db.exec(
            select(AbSession).where(
                AbSession.channel_id == channel_id,
                AbSession.thread_ts == thread_ts,
                AbSession.status == "open",
            )
        ).first()


def record_prompt(
    engine: Engine,
    session: AbSession,
    *,
    slack_ts: str,
    author_id: str,
    text: str,
    rng: random.Random | None = None,
) -> AbPrompt | None:
    """Store a prompt with its opponent and blind slot; ``None`` if already stored.

    Raises:
        EvaluationError: the message is empty or too long to be a prompt.
    """
    text = text.strip()
    if not text:
        raise EvaluationError("That message has no text to use as a prompt.")
    if len(text) > MAX_PROMPT_CHARS:
        raise EvaluationError(
            f"That prompt has {len(text):,} characters; the limit is {MAX_PROMPT_CHARS:,}.",
            hint="Shorten it and post it again.",
        )
    assert session.id is not None
    opponents = opponents_of(session)
    try:
        with session_scope(engine) as db:
            row = AbPrompt(
                session_id=session.id,
                slack_ts=slack_ts,
                author_id=author_id,
                text=text,
                opponent=opponents[0],
                candidate_position=blinding.draw(rng).candidate_position,
            )
            # Insert first, then count: the insert takes the write lock, so two
            # prompts arriving together see each other and get different numbers.
            db.add(row)
            db.flush()
            number = db.exec(
                select(func.count())
                .select_from(AbPrompt)
                .where(AbPrompt.session_id == session.id, col(AbPrompt.id) <= row.id)
            ).one()
            # Rotation keeps the opponents balanced over the session.
            row.opponent = opponents[(int(number) - 1) % len(opponents)]
            db.add(row)
        return row
    except IntegrityError:
        return None


@dataclass(frozen=True)
class PairResult:
    """The stored answers in display order, and whether the prompt counts."""

    prompt: AbPrompt
    response_a: AbResponse
    response_b: AbResponse

    @property
    def counted(self) -> bool:
        return self.prompt.status == "answered"


def _response(prompt: AbPrompt, arm: Arm, position: str, answer: Answer) -> AbResponse:
    assert prompt.id is not None
    return AbResponse(
        prompt_id=prompt.id,
        arm=arm.key,
        provider=arm.provider,
        model=arm.model,
        position=position,
        text=answer.text,
        error=answer.error,
        latency_s=answer.latency_s,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
    )


def generate(
    engine: Engine,
    session: AbSession,
    prompt: AbPrompt,
    *,
    providers: Mapping[str, ChatProvider],
) -> PairResult:
    """Ask both arms at once, store both answers; a failure marks the prompt uncounted."""
    arms = arms_of(session)
    candidate, opponent = arms[CANDIDATE], arms[prompt.opponent]
    conversation = [{"role": "user", "content": prompt.text}]
    first, second = ask_both(
        candidate, opponent, conversation, providers=providers, generation=generation_of(session)
    )
    assignment = blinding.Assignment(candidate_position=prompt.candidate_position)  # type: ignore[arg-type]
    rows = [
        _response(prompt, candidate, assignment.candidate_position, first),
        _response(prompt, opponent, assignment.opponent_position, second),
    ]
    with session_scope(engine) as db:
        stored = db.get(AbPrompt, prompt.id)
        assert stored is not None
        stored.status = "answered" if first.ok and second.ok else "failed"
        db.add(stored)
        for row in rows:
            db.add(row)
    rows.sort(key=lambda r: r.position)
    return PairResult(prompt=stored, response_a=rows[0], response_b=rows[1])


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
