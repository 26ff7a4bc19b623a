"""A/B sessions, their prompts, responses and votes; held-out evaluations.

Unique constraints carry the idempotency: a retried Slack event cannot record a
prompt twice (session + message ts), a person has one vote per prompt (prompt +
user, changed in place), and a job gets one held-out evaluation (job id).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel, col, func, select

from core.store.datasets import utcnow
from core.store.engine import session_scope

# Arm keys. The candidate is the model under test (usually the fine-tuned one);
# each prompt pits it against one opponent arm.
CANDIDATE = "candidate"
BASELINE = "baseline"
FEW_SHOT = "few_shot"

# Vote choices, in the order the buttons show them.
VOTE_A = "a"
VOTE_B = "b"
VOTE_TIE = "tie"
VOTE_BOTH_BAD = "both_bad"
VOTE_CHOICES = (VOTE_A, VOTE_B, VOTE_TIE, VOTE_BOTH_BAD)


class AbSession(SQLModel, table=True):
    """One blind A/B test living in a Slack thread.

    ``min_decisive`` and ``alpha`` are the verdict rule, stored when the session
    is created so it is fixed before any vote arrives.
    """

    __tablename__ = "ab_session"
    __table_args__ = (UniqueConstraint("channel_id", "thread_ts"),)

    id: int | None = Field(default=None, primary_key=True)
    short_id: str = Field(unique=True, index=True, max_length=16)
    # Slack trigger (action id / command trigger id): a double click is one session.
    request_id: str = Field(unique=True, max_length=128)
    job_id: int | None = Field(default=None, foreign_key="training_job.id", index=True)
    channel_id: str = Field(index=True, max_length=32)
    # The workspace (OAuth installs serve many); None in databases from before #13.
    team_id: str | None = Field(default=None, max_length=32, index=True)
    # ts of the root (scoreboard) message; the thread the session lives in.
    thread_ts: str | None = Field(default=None, max_length=32)
    created_by: str = Field(max_length=32)
    candidate_provider: str = Field(max_length=16)
    candidate_model: str = Field(max_length=512)
    baseline_provider: str = Field(max_length=16)
    baseline_model: str = Field(max_length=512)
    # What people call each arm on the scoreboard ("fine-tuned", "base").
    candidate_label: str = Field(default="fine-tuned", max_length=64)
    baseline_label: str = Field(default="base", max_length=64)
    # System prompt of the third arm (baseline model + few-shot examples), if any.
    few_shot_prompt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    temperature: float = 0.7
    max_tokens: int = 512
    seed: int | None = None
    min_decisive: int = 10
    alpha: float = 0.05
    status: str = Field(default="open", max_length=16)
    scoreboard_edited_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class AbPrompt(SQLModel, table=True):
    """A message someone posted in the session's thread, and how it was shown."""

    __tablename__ = "ab_prompt"
    __table_args__ = (UniqueConstraint("session_id", "slack_ts"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="ab_session.id", index=True)
    slack_ts: str = Field(max_length=32)
    author_id: str = Field(max_length=32)
    text: str = Field(sa_column=Column(Text, nullable=False))
    opponent: str = Field(max_length=16)
    # Where the candidate's answer was shown; the opponent took the other slot.
    candidate_position: str = Field(max_length=1)
    # pending -> answered | failed (a model did not answer: not counted)
    status: str = Field(default="pending", max_length=16)
    message_ts: str | None = Field(default=None, max_length=32)
    # When a process last took on answering it; a pending prompt whose claim is
    # old was left by a process that died, and the scheduler takes it over.
    claimed_at: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)


class AbResponse(SQLModel, table=True):
    """One arm's answer to one prompt; ``position`` is the slot it was shown in."""

    __tablename__ = "ab_response"
    __table_args__ = (UniqueConstraint("prompt_id", "arm"),)

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int = Field(foreign_key="ab_prompt.id", index=True)
    arm: str = Field(max_length=16)
    provider: str = Field(max_length=16)
    model: str = Field(max_length=512)
    position: str = Field(max_length=1)
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class AbVote(SQLModel, table=True):
    """A person's vote on a prompt: one row per person and prompt, changeable."""

    __tablename__ = "ab_vote"
    __table_args__ = (UniqueConstraint("prompt_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int = Field(foreign_key="ab_prompt.id", index=True)
    user_id: str = Field(max_length=32)
    # The voter's workspace: a vote from another workspace than the session's is refused.
    team_id: str | None = Field(default=None, max_length=32)
    choice: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class HeldoutRun(SQLModel, table=True):
    """The automatic evaluation of a finished job on its held-out split.

    Created (once, unique job id) when a job with validation data succeeds;
    the scheduler claims ``pending`` rows and posts the result to the job's thread.
    """

    __tablename__ = "heldout_run"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="training_job.id", unique=True)
    # pending -> running -> done | failed; posted_ts set once the report is in Slack.
    status: str = Field(default="pending", index=True, max_length=16)
    # The report as rendered when the run finished (stored with the status), so a
    # process that dies before posting it leaves it for the next one to post.
    report_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # When a process took on posting the report; an old one was left by a dead process.
    posting_since: datetime | None = None
    data_path: str = Field(max_length=1024)
    judge_model: str | None = Field(default=None, max_length=512)
    summary_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    posted_ts: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class HeldoutItem(SQLModel, table=True):
    """One held-out prompt: both answers, their reference scores."""

    __tablename__ = "heldout_item"
    __table_args__ = (UniqueConstraint("run_id", "index"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="heldout_run.id", index=True)
    index: int
    prompt_json: str = Field(sa_column=Column(Text, nullable=False))
    reference: str = Field(sa_column=Column(Text, nullable=False))
    candidate_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    baseline_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    candidate_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    baseline_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    candidate_f1: float | None = None
    baseline_f1: float | None = None
    candidate_exact: bool | None = None
    baseline_exact: bool | None = None
    # candidate | baseline | tie | None (no judge, or a model failed)
    judge_outcome: str | None = Field(default=None, max_length=16)


class JudgeVerdict(SQLModel, table=True):
    """One judge call: which order it saw and what it said, raw and parsed."""

    __tablename__ = "judge_verdict"
    __table_args__ = (UniqueConstraint("item_id", "candidate_position"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="heldout_item.id", index=True)
    judge_model: str = Field(max_length=512)
    candidate_position: str = Field(max_length=1)
    # a | b | tie | invalid (unparseable answers count as ties)
    choice: str = Field(max_length=16)
    raw: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


def get_session(engine: Engine, *, session_id: int) -> AbSession | None:
    """The A/B session with this row id, if it exists."""
    with session_scope(engine) as db:
        return db.get(AbSession, session_id)


def prompt_position(engine: Engine, *, session_id: int, prompt_id: int) -> int:
    """The prompt's 1-based position in its session (prompts are numbered by row id)."""
    with session_scope(engine) as db:
        count = db.exec(
            select(func.count())
            .select_from(AbPrompt)
            .where(AbPrompt.session_id == session_id, col(AbPrompt.id) <= prompt_id)
        ).one()
    return int(count)


def sessions_of_user(engine: Engine, *, user_id: str, limit: int = 5) -> list[AbSession]:
    """A/B sessions ``user_id`` started, newest first."""
    with session_scope(engine) as session:
        query = (
            select(AbSession)
            .where(AbSession.created_by == user_id)
            .order_by(col(AbSession.id).desc())
            .limit(limit)
        )
        return list(session.exec(query))
