"""Cancelling a training job on its provider (a cancel command or button)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from core.errors import TrainingError
from core.providers import Provider
from core.store.jobs import FINAL_STATUSES, TrainingJob, update_job


def cancel_job(
    engine: Engine, job: TrainingJob, *, providers: dict[str, Provider], user_id: str
) -> TrainingJob:
    """Ask the job's provider to cancel it and record who asked.

    Returns the updated row (status as the provider reports it, usually
    ``"cancelled"``; the scheduler posts the final message).

    Raises:
        TrainingError: the job already finished, has no provider job yet, or its
            provider is no longer configured.
        ProviderRejected, ProviderTimeout: the provider refused or did not answer.
    """
    if job.status in FINAL_STATUSES:
        raise TrainingError(f"Job {job.short_id} already {job.status}; nothing to cancel.")
    if not job.provider_job_id:
        raise TrainingError(
            f"Job {job.short_id} is still being started.", hint="Try again in a few seconds."
        )
    provider = providers.get(job.provider)
    if provider is None:
        raise TrainingError(
            f"Provider {job.provider!r} is no longer configured, so I cannot reach job "
            f"{job.short_id}.",
            hint="Cancel it in the provider's own console.",
        )
    result = provider.cancel_job(job.provider_job_id)
    if job.id is None:
        raise TrainingError("The job row was not saved.")
    return update_job(engine, job.id, status=result.status, cancelled_by=user_id)
