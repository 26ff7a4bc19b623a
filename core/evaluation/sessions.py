"""A/B sessions: create, record prompts, generate both answers, tally.

Rows are read and written through :mod:`core.store.ab` (re-exported here for
callers of the session API). The database holds everything (DESIGN.md: the database is the source of
truth), so a restart of the bot loses no prompt and no vote, and unique
constraints make a retried Slack event or a double click harmless.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from core.errors import EvaluationError
from core.evaluation import blinding
from core.evaluation.arms import Answer, Arm, ChatProvider, Generation, ask_both
from core.store.ab import (
    attach_thread,
    claim_scoreboard_edit,
    claim_stale_prompts,
    find_session,
    insert_prompt,
    insert_session,
    session_for_thread,
    set_message_ts,
    store_answers,
)
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
    team_id: str | None = None,
) -> tuple[AbSession, bool]:
    """Create a session once per Slack request; returns (session, created).

    A retried or double-clicked request finds the existing row instead.

    Parameters:
        labels: what people call the candidate and the baseline on the scoreboard.
        team_id: the workspace the session belongs to.
    """
    settings = generation or Generation()
    row = AbSession(
        short_id=new_short_id(),
        request_id=request_id,
        job_id=job_id,
        channel_id=channel_id,
        team_id=team_id,
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
    return insert_session(engine, row=row)


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
    row = AbPrompt(
        session_id=session.id,
        slack_ts=slack_ts,
        author_id=author_id,
        text=text,
        opponent=opponents[0],
        candidate_position=blinding.draw(rng).candidate_position,
    )
    # Rotation keeps the opponents balanced over the session.
    return insert_prompt(
        engine, row=row, opponent_for=lambda number: opponents[(number - 1) % len(opponents)]
    )


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
    # The column holds only "A" or "B" (written from an Assignment) but is typed str.
    assignment = blinding.Assignment(candidate_position=prompt.candidate_position)  # type: ignore[arg-type]
    rows = [
        _response(prompt, candidate, assignment.candidate_position, first),
        _response(prompt, opponent, assignment.opponent_position, second),
    ]
    assert prompt.id is not None
    status = "answered" if first.ok and second.ok else "failed"
    stored = store_answers(engine, prompt_id=prompt.id, status=status, responses=rows)
    rows.sort(key=lambda r: r.position)
    return PairResult(prompt=stored, response_a=rows[0], response_b=rows[1])


__all__ = [
    "PairResult",
    "arms_of",
    "attach_thread",
    "claim_scoreboard_edit",
    "claim_stale_prompts",
    "create_session",
    "find_session",
    "generate",
    "generation_of",
    "new_short_id",
    "opponents_of",
    "record_prompt",
    "session_for_thread",
    "set_message_ts",
]
