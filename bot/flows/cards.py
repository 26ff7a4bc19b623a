"""Stored rows to the view models :mod:`bot.blocks` builds messages from.

Builders never see table rows: a column added or renamed in the store changes
this module, not the Block Kit.
"""

from __future__ import annotations

import json

from bot.blocks.ab import AbAnswer, AbCard
from bot.blocks.jobs import DatasetCard, JobCard, JobChoices
from core.store.datasets import Dataset
from core.store.evaluation import AbResponse, AbSession
from core.store.jobs import TrainingJob


def _error_message(error_json: str | None) -> str | None:
    if not error_json:
        return None
    try:
        error = json.loads(error_json)
    except ValueError:
        return error_json
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def job_card(job: TrainingJob) -> JobCard:
    """A stored job as its messages show it."""
    return JobCard(
        short_id=job.short_id,
        provider=job.provider,
        status=job.status,
        base_model=job.base_model,
        started_by=job.started_by,
        created_at=job.created_at,
        choices=JobChoices.from_json(job.options_json),
        provider_job_id=job.provider_job_id,
        estimated_cost_usd=job.estimated_cost_usd,
        fine_tuned_model=job.fine_tuned_model,
        error=_error_message(job.error_json),
    )


def dataset_card(dataset: Dataset) -> DatasetCard:
    return DatasetCard(
        short_id=dataset.short_id,
        file_name=dataset.file_name,
        verdict=dataset.verdict,
        examples=dataset.examples,
        created_at=dataset.created_at,
    )


def ab_card(session: AbSession) -> AbCard:
    return AbCard(
        short_id=session.short_id,
        candidate_model=session.candidate_model,
        baseline_model=session.baseline_model,
        candidate_label=session.candidate_label,
        baseline_label=session.baseline_label,
        few_shot=bool(session.few_shot_prompt),
        min_decisive=session.min_decisive,
        alpha=session.alpha,
    )


def ab_answer(response: AbResponse) -> AbAnswer:
    return AbAnswer(
        arm=response.arm,
        model=response.model,
        position=response.position,
        text=response.text,
        error=response.error,
    )
