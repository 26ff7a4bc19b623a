"""A job's final transition: succeeded, failed or cancelled, recorded once.

Why one function: the runner (process exit), cancellation (queued job),
validation (bad file) and restart recovery all end jobs, and each must leave
the same trail: status, ``finished_at``, an error in OpenAI's shape, events in
OpenAI's wording, and for a success the ``ft:`` name and the metrics CSV.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from worker.records import FileRecord, JobRecord
from worker.results import base_model_name, fine_tuned_model_name, metrics_csv
from worker.settings import WorkerConfig
from worker.store import WorkerStore, new_id, now

logger = logging.getLogger(__name__)

FINAL_STATUSES = ("succeeded", "failed", "cancelled")


def finish_job(
    store: WorkerStore,
    config: WorkerConfig,
    job_id: str,
    *,
    outcome: Mapping[str, object],
    param: str | None = None,
) -> JobRecord:
    """Record ``outcome`` (``{"status", "error"?, "code"?, "trained_tokens"?}``).

    A cancel request wins over a trainer that reports success after SIGTERM
    only when the trainer says "cancelled"; a job that already ended is left as is.
    """
    job = store.get(JobRecord, job_id)
    assert job is not None
    if job.status in FINAL_STATUSES:
        return job
    status = str(outcome.get("status"))
    if status not in FINAL_STATUSES:
        status = "failed"
    if status == "failed" and job.cancel_requested:
        status = "cancelled"  # killed after the grace period: that is still a cancel
    tokens = outcome.get("trained_tokens")
    values: dict[str, object] = {"status": status, "finished_at": now(), "estimated_finish": None}
    if isinstance(tokens, int):
        values["trained_tokens"] = tokens
    if status == "succeeded":
        values["fine_tuned_model"] = fine_tuned_model_name(
            model=base_model_name(job.model), suffix=job.suffix, job_id=job.id
        )
        values["result_file"] = _write_metrics_file(store, config, job_id)
        store.update_job(job_id, **values)
        store.add_event(job_id, f"New fine-tuned model created: {values['fine_tuned_model']}")
        store.add_event(job_id, "The job has successfully completed")
    elif status == "cancelled":
        store.update_job(job_id, **values)
        store.add_event(job_id, "Fine-tuning job cancelled")
    else:
        message = str(outcome.get("error") or "Training failed for an unknown reason.")
        code = str(outcome.get("code") or "training_failed")
        values.update(error_code=code, error_message=message, error_param=param)
        store.update_job(job_id, **values)
        store.add_event(job_id, f"Fine-tuning job failed: {message}", level="error")
    finished = store.get(JobRecord, job_id)
    assert finished is not None
    logger.info(
        "job %s (model %s): %s%s",
        job_id, job.model, status, f" ({values['error_code']})" if status == "failed" else "",
    )  # fmt: skip
    return finished


def _write_metrics_file(store: WorkerStore, config: WorkerConfig, job_id: str) -> str:
    content = metrics_csv(store.events(job_id, type_="metrics"))
    file_id = new_id("file")
    config.files_dir.mkdir(parents=True, exist_ok=True)
    (config.files_dir / file_id).write_bytes(content)
    if config.remote_storage:
        from worker.storage import Storage

        Storage(config.storage_uri).put_file(config.files_dir / file_id, f"files/{file_id}")
    store.add(
        FileRecord(
            id=file_id,
            filename="step_metrics.csv",
            bytes=len(content),
            purpose="fine-tune-results",
            created_at=now(),
        )
    )
    return file_id
