"""Training on an A/B session's votes: its decided prompts become a DPO job.

The session's preference pairs (:func:`core.evaluation.export.to_preference_jsonl`,
OpenAI's preference format) are taken in like a dropped file, so the job is
validated, costed and budget-checked by the same code as any other; the job
then continues the session's fine-tuned model with ``method: dpo``.

A click is idempotent by content: the request id carries a hash of the pairs,
so a double click, or a second person pressing before anyone voted again,
finds the job already started; after more votes, a new click trains on the
new pairs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from core.config import Settings
from core.datasets.intake import Origin, take_in
from core.errors import EvaluationError
from core.evaluation import export
from core.store.datasets import Dataset, dataset_by_source
from core.store.evaluation import AbSession
from core.store.jobs import TrainingJob, get_job
from core.training.start import JobOptions, StartRequest
from core.validation.report import Report


@dataclass(frozen=True)
class VotePairs:
    """A session's decided prompts as preference JSONL, and how many there are."""

    jsonl: str
    count: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.jsonl.encode("utf-8")).hexdigest()


def vote_pairs(engine: Engine, session: AbSession) -> VotePairs:
    """The session's decided prompts (ties and undecided ones carry no preference)."""
    jsonl = export.to_preference_jsonl(export.prompt_rows(engine, session))
    return VotePairs(jsonl=jsonl, count=jsonl.count("\n"))


def source_model(engine: Engine, session: AbSession) -> TrainingJob | None:
    """The job whose fine-tuned model the session tests; None for a test of two models."""
    if session.job_id is None:
        return None
    job = get_job(engine, session.job_id)
    if job is None or job.fine_tuned_model != session.candidate_model:
        return None
    return job


def can_train(engine: Engine, session: AbSession, *, settings: Settings) -> bool:
    """Whether the session's results offer "Train on these votes" (a fine-tuned model
    to continue, and at least ``TUNEBOT_DPO_MIN_PAIRS`` decided prompts)."""
    return (
        source_model(engine, session) is not None
        and vote_pairs(engine, session).count >= settings.dpo_min_pairs
    )


def votes_request(
    engine: Engine,
    session: AbSession,
    *,
    settings: Settings,
    user_id: str,
    team_id: str | None = None,
) -> StartRequest:
    """Store the session's pairs as a dataset and ask for a DPO job on them.

    The job continues the session's fine-tuned model on its provider and reports
    in the session's thread.

    Raises:
        EvaluationError: no fine-tuned model to continue, or fewer decided prompts
            than ``TUNEBOT_DPO_MIN_PAIRS``.
        TunebotError: the pairs did not validate (from the intake).
    """
    job = source_model(engine, session)
    if job is None or session.thread_ts is None:
        raise EvaluationError(
            f"A/B test `{session.short_id}` does not test a fine-tuned model of a job.",
            hint="Train on votes from a test started from a job's result.",
        )
    pairs = vote_pairs(engine, session)
    if pairs.count < settings.dpo_min_pairs:
        raise EvaluationError(
            f"A/B test `{session.short_id}` has {pairs.count} decided prompts; training on "
            f"votes needs at least {settings.dpo_min_pairs}.",
            hint="Post more prompts and vote on them (ties carry no preference).",
        )
    dataset = _pairs_dataset(engine, session, pairs, settings=settings, user_id=user_id)
    assert dataset.id is not None
    if dataset.verdict == "not_ready":
        # No report was posted for these pairs: say here what is wrong with them.
        errors = Report.model_validate_json(dataset.report_json).errors
        first = f" Pair {errors[0].line}: {errors[0].message}" if errors else ""
        raise EvaluationError(
            f"The decided prompts of A/B test `{session.short_id}` do not make a valid "
            f"training file.{first}",
            hint="Answers that are empty cannot be trained on: vote Both bad or Tie on them, "
            "or post more prompts.",
        )
    return StartRequest(
        request_id=f"votes:{session.short_id}:{pairs.digest[:16]}",
        dataset_id=dataset.id,
        options=JobOptions(
            provider=session.candidate_provider,
            base_model=session.candidate_model,
            method="dpo",
            suffix=_suffix(job),
        ),
        user_id=user_id,
        team_id=team_id,
    )


def _suffix(job: TrainingJob) -> str:
    return f"votes-{job.short_id.removeprefix('job-')}"[:40]


def _pairs_dataset(
    engine: Engine, session: AbSession, pairs: VotePairs, *, settings: Settings, user_id: str
) -> Dataset:
    source_id = f"votes:{session.short_id}"
    existing = dataset_by_source(engine, source_id=source_id, sha256=pairs.digest)
    if existing is not None:
        return existing

    def write(path: Path) -> int:
        data = pairs.jsonl.encode("utf-8")
        path.write_bytes(data)
        return len(data)

    intake = take_in(
        engine,
        settings=settings,
        origin=Origin(
            source_id=source_id,
            file_name=f"{session.short_id}-preferences.jsonl",
            uploader_id=user_id,
            channel_id=session.channel_id,
            thread_ts=session.thread_ts or "",
        ),
        fetch=write,
    )
    return intake.dataset
