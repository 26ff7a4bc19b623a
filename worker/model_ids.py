"""Which weights a fine-tuned model id names: an ``ft:`` adapter or one of its checkpoints.

Why one place: chat completions, ``GET /v1/models``, new jobs that continue a
fine-tuned model and ``tunebot worker export`` must agree on what
``ft:<base>:<suffix>:<job>`` and OpenAI's checkpoint ids
``ft:<base>:<suffix>:<job>:ckpt-step-<N>`` mean. Only models of succeeded jobs
exist, as on OpenAI.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from worker.inference import ModelKey, adapter_key
from worker.records import CheckpointRecord, JobRecord
from worker.results import job_id_from_model
from worker.store import WorkerStore
from worker.trainer import ADAPTER_META

CHECKPOINT_MARK = ":ckpt-step-"


def checkpoint_model_name(fine_tuned_model: str, step: int) -> str:
    """OpenAI's id of a job's checkpoint at ``step``."""
    return f"{fine_tuned_model}{CHECKPOINT_MARK}{step}"


def split_checkpoint(model: str) -> tuple[str, int | None]:
    """``(ft name, step)`` of a checkpoint id; ``(model, None)`` for anything else."""
    name, mark, step = model.rpartition(CHECKPOINT_MARK)
    if mark and name and step.isdigit():
        return name, int(step)
    return model, None


def finished_job(store: WorkerStore, fine_tuned_model: str) -> JobRecord | None:
    """The succeeded job that produced ``fine_tuned_model`` (an ``ft:`` name), or None."""
    job_id = job_id_from_model(fine_tuned_model)
    job = store.get(JobRecord, job_id) if job_id else None
    if job is None or job.status != "succeeded" or job.fine_tuned_model != fine_tuned_model:
        return None
    return job


def job_checkpoints(store: WorkerStore, job: JobRecord) -> dict[int, CheckpointRecord]:
    """Step -> checkpoint; a resumed job's later record of a step wins (same folder)."""
    return {record.step: record for record in store.checkpoints(job.id)}


def resolve_adapter(store: WorkerStore, jobs_dir: Path, model: str) -> ModelKey | None:
    """The base, precision and adapter folder of an ``ft:`` model or checkpoint id.

    Returns None when ``model`` names no succeeded job's model or checkpoint here,
    or its files are gone. A checkpoint is served on the same base and precision
    as the job's final adapter.
    """
    name, step = split_checkpoint(model)
    job = finished_job(store, name)
    if job is None:
        return None
    adapter_dir = jobs_dir / job.id / "adapter"
    if not (adapter_dir / ADAPTER_META).is_file():
        return None
    key = adapter_key(adapter_dir)
    if step is None:
        return key
    record = job_checkpoints(store, job).get(step)
    if record is None or not (Path(record.path) / "adapter_config.json").is_file():
        return None
    return replace(key, adapter=record.path)
