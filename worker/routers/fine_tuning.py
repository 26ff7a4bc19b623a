"""``/v1/fine_tuning/jobs``: create, list, retrieve, cancel, events, checkpoints.

Why strict on create: a job that would fail minutes later on a typo (unknown
model, wrong file, bad hyperparameter) is refused at once with OpenAI's 400,
naming what is accepted. Files are validated deeply afterwards, while the job
is ``validating_files``.

``method.type`` is "supervised" or "dpo" (preference pairs). ``model`` is a
served base, or an ``ft:`` model of this worker whose adapter the job keeps
training (its LoRA shape is inherited).
"""

from __future__ import annotations

import json
import math
import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query

from core.errors import TrainingError
from core.training.config import DPO_ONLY, TrainingParams
from worker.deps import Authorized, StateDep
from worker.errors import APIError, not_found
from worker.jobs_finish import FINAL_STATUSES
from worker.model_ids import checkpoint_model_name, finished_job, resolve_adapter
from worker.records import CheckpointRecord, EventRecord, FileRecord, JobRecord, job_method
from worker.results import base_model_name, fine_tuned_model_name
from worker.schemas import (
    CheckpointMetrics,
    FineTuningJob,
    Hyperparameters,
    JobCheckpoint,
    JobCreate,
    JobError,
    JobEvent,
    ListPage,
)
from worker.storage import adapter_path
from worker.store import new_id, now

LORA_SHAPE = ("lora_r", "lora_alpha", "lora_dropout", "target_modules")
"""Fixed by the adapter a continued job starts from (PEFT loads its saved config)."""

router = APIRouter(prefix="/v1/fine_tuning/jobs", tags=["fine-tuning"], dependencies=[Authorized])

Limit = Annotated[int, Query(ge=1, le=100)]
MIN_SEQ_LENGTH = 64
"""Tokens: below this a chat template leaves little or nothing to train on."""
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,127}$")
"""A module name or dotted suffix (``q_proj``, ``self_attn.q_proj``), never a path."""


def to_schema(job: JobRecord) -> FineTuningJob:
    method = job_method(job)
    params = {
        k: v for k, v in json.loads(job.params_json).items() if method == "dpo" or k not in DPO_ONLY
    }
    error = None
    if job.status == "failed":
        error = JobError(
            code=job.error_code or "training_failed",
            message=job.error_message or "",
            param=job.error_param,
        )
    return FineTuningJob(
        id=job.id,
        created_at=job.created_at,
        error=error,
        fine_tuned_model=job.fine_tuned_model,
        finished_at=job.finished_at,
        hyperparameters=Hyperparameters(**params),
        model=job.model,
        result_files=[job.result_file] if job.result_file else [],
        seed=job.seed,
        # The runner stores only the schema's literal statuses; the column is str.
        status=job.status,  # type: ignore[arg-type]
        trained_tokens=job.trained_tokens if job.status in FINAL_STATUSES else None,
        training_file=job.training_file,
        validation_file=job.validation_file,
        estimated_finish=job.estimated_finish if job.status == "running" else None,
        metadata=json.loads(job.metadata_json) if job.metadata_json else None,
        method={"type": method, method: {"hyperparameters": params}},
        user_provided_suffix=job.suffix,
    )


@router.post("", response_model=FineTuningJob)
def create_job(state: StateDep, body: JobCreate) -> FineTuningJob:
    if body.integrations:
        raise APIError(
            400,
            "The worker has no integrations (OpenAI's Weights & Biases reporting); "
            "remove 'integrations' from the request.",
            param="integrations",
            code="unsupported_parameter",
        )
    parent = _parent_job(state, body.model)
    base_model = parent.base_model if parent else state.config.models[body.model]
    for param in ("training_file", "validation_file"):
        _check_file(state, getattr(body, param), param=param)
    method = body.method.type if body.method else "supervised"
    params = _params(body, method=method, parent=parent)
    _check_gpus(state, params)
    job = JobRecord(
        id=new_id("ftjob"),
        model=body.model,
        base_model=base_model,
        training_file=body.training_file,
        validation_file=body.validation_file,
        suffix=body.suffix or None,
        seed=params.seed,
        status="validating_files",
        params_json=json.dumps(params.to_dict()),
        metadata_json=json.dumps(body.metadata) if body.metadata else None,
        method_json=json.dumps({"type": method}),
        created_at=now(),
    )
    state.store.add(job)
    state.store.add_event(job.id, f"Created fine-tuning job: {job.id}")
    state.runner.submit(job.id)
    return to_schema(job)


@router.get("", response_model=ListPage[FineTuningJob])
def list_jobs(state: StateDep, after: str | None = None, limit: Limit = 20) -> ListPage[Any]:
    rows, more = state.store.page(JobRecord, after=after, limit=limit)
    return ListPage[FineTuningJob](data=[to_schema(r) for r in rows], has_more=more)


@router.get("/{job_id}", response_model=FineTuningJob)
def retrieve_job(state: StateDep, job_id: str) -> FineTuningJob:
    return to_schema(_get(state, job_id))


@router.post("/{job_id}/cancel", response_model=FineTuningJob)
def cancel_job(state: StateDep, job_id: str) -> FineTuningJob:
    job = _get(state, job_id)
    if job.status in FINAL_STATUSES:
        raise APIError(
            400, f"Job {job_id} has already {job.status} and cannot be cancelled.", code="invalid"
        )
    return to_schema(state.runner.cancel(job_id))


@router.get("/{job_id}/events", response_model=ListPage[JobEvent])
def list_events(
    state: StateDep, job_id: str, after: str | None = None, limit: Limit = 20
) -> ListPage[Any]:
    _get(state, job_id)
    rows, more = state.store.page(EventRecord, after=after, limit=limit, job_id=job_id)
    events = [
        JobEvent(
            id=r.id,
            created_at=r.created_at,
            # worker.store writes level and type from the schema's literals; columns are str.
            level=r.level,  # type: ignore[arg-type]
            message=r.message,
            data=json.loads(r.data_json) if r.data_json else {},
            type=r.type,  # type: ignore[arg-type]
        )
        for r in rows
    ]
    return ListPage[JobEvent](data=events, has_more=more)


@router.get("/{job_id}/checkpoints", response_model=ListPage[JobCheckpoint])
def list_checkpoints(
    state: StateDep, job_id: str, after: str | None = None, limit: Limit = 10
) -> ListPage[Any]:
    job = _get(state, job_id)
    rows, more = state.store.page(CheckpointRecord, after=after, limit=limit, job_id=job_id)
    name = fine_tuned_model_name(model=base_model_name(job.model), suffix=job.suffix, job_id=job.id)
    data = [
        JobCheckpoint(
            id=r.id,
            created_at=r.created_at,
            fine_tuned_model_checkpoint=checkpoint_model_name(name, r.step),
            fine_tuning_job_id=job.id,
            metrics=CheckpointMetrics(**json.loads(r.metrics_json)),
            step_number=r.step,
        )
        for r in rows
    ]
    return ListPage[JobCheckpoint](data=data, has_more=more)


def _get(state: StateDep, job_id: str) -> JobRecord:
    job = state.store.get(JobRecord, job_id)
    if job is None:
        raise not_found("fine-tuning job", job_id, param="fine_tuning_job_id")
    return job


def _check_file(state: StateDep, file_id: str | None, *, param: str) -> None:
    if file_id is None:
        return
    record = state.store.get(FileRecord, file_id)
    if record is None:
        raise APIError(
            400, f"Invalid {param}: no file with id {file_id!r}.", param=param, code="invalid_file"
        )
    if record.purpose != "fine-tune":
        raise APIError(
            400,
            f"Invalid {param}: file {file_id} has purpose {record.purpose!r}; "
            "upload training data with purpose 'fine-tune'.",
            param=param,
            code="invalid_file_purpose",
        )


def _parent_job(state: StateDep, model: str) -> JobRecord | None:
    """None for a served base model; the succeeded job behind an ``ft:`` model
    this job continues; a 400 naming what can be trained otherwise."""
    if model in state.config.models:
        return None
    parent = finished_job(state.store, model)
    if parent is not None:  # with object storage, the adapter must be here to be checked
        adapter_path(state.config, parent.id)
    if parent is not None and resolve_adapter(state.store, state.config.jobs_dir, model):
        return parent
    served = ", ".join(sorted(state.config.models))
    raise APIError(
        400,
        f"Model {model!r} is not available on this worker. Served models: {served}; "
        "or continue a fine-tuned model of this worker by its ft: name (GET /v1/models).",
        param="model",
        code="model_not_available",
    )


def _params(body: JobCreate, *, method: str, parent: JobRecord | None) -> TrainingParams:
    given, param = _given_hyperparameters(body, method)
    given = dict(given or {})
    if parent is not None:
        fixed = sorted(set(given) & set(LORA_SHAPE))
        if fixed:
            raise APIError(
                400,
                f"{', '.join(fixed)} cannot change when continuing {body.model}: its adapter "
                "keeps the LoRA shape it was trained with. Leave them out.",
                param=param,
                code="invalid_hyperparameters",
            )
        inherited = json.loads(parent.params_json)
        given.update({k: inherited[k] for k in LORA_SHAPE if k in inherited})
    seed = body.seed
    if seed is None and "seed" not in given:
        seed = secrets.randbelow(2**31)  # OpenAI picks one too, and reports it
    for key, value in (given or {}).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise APIError(
                400,
                f'{key}={value} is not a finite number; give a number such as 1.0 or "auto".',
                param=f"{param}.{key}",
                code="invalid_hyperparameters",
            )
    try:
        params = TrainingParams.from_hyperparameters(given, seed=seed, method=method)
    except TrainingError as exc:
        message = exc.user_message()
        raise APIError(400, message, param=param, code="invalid_hyperparameters") from exc
    _check_worker_limits(params, param=param)
    return params


def _check_worker_limits(params: TrainingParams, *, param: str) -> None:
    """What the trainer would fail on minutes later, refused now (issue #10)."""
    if params.max_seq_length < MIN_SEQ_LENGTH:
        raise APIError(
            400,
            f"max_seq_length={params.max_seq_length} is below the worker's minimum of "
            f"{MIN_SEQ_LENGTH} tokens: a chat template alone can fill that, leaving nothing "
            "to train on. Use 512 or more for real data.",
            param=f"{param}.max_seq_length",
            code="invalid_hyperparameters",
        )
    if params.target_modules != "all-linear":
        for name in params.target_modules.split(","):
            name = name.strip()
            if name and (not MODULE_NAME.match(name) or ".." in name):
                raise APIError(
                    400,
                    f"target_modules entry {name[:80]!r} is not a module name. Give "
                    '"all-linear" or comma-separated names such as "q_proj,v_proj".',
                    param=f"{param}.target_modules",
                    code="invalid_hyperparameters",
                )


def _check_gpus(state: StateDep, params: TrainingParams) -> None:
    """Refuse more GPUs per job than the box (or the Ray cluster's largest node) has."""
    wanted = getattr(params, "n_gpus", None)
    if not wanted:
        return
    runner = state.runner
    available = runner.launcher.max_gpus() if runner.has_gpus() else 0
    if wanted > available:
        where = "Ray cluster's largest node" if runner.launcher.name == "ray" else "worker"
        raise APIError(
            400,
            f"n_gpus={wanted} but the {where} has {available} GPU(s) for one job. "
            f"Ask for {max(available, 1)} or fewer{'' if available else ' (or leave it unset)'}.",
            param="hyperparameters.n_gpus",
            code="invalid_hyperparameters",
        )
    if params.batch_size % wanted:
        raise APIError(
            400,
            f"batch_size={params.batch_size} cannot be split evenly over n_gpus={wanted}; "
            f"use a multiple of {wanted}.",
            param="hyperparameters.batch_size",
            code="invalid_hyperparameters",
        )


def _given_hyperparameters(body: JobCreate, method: str) -> tuple[dict[str, Any] | None, str]:
    """The hyperparameters object that applies to ``method``, and its parameter path."""
    if body.method is None:
        return body.hyperparameters, "hyperparameters"
    other = "supervised" if method == "dpo" else "dpo"
    if getattr(body.method, other) is not None:
        raise APIError(
            400,
            f"method.{other} was given but method.type is {method!r}; "
            f"put the hyperparameters in method.{method}.",
            param=f"method.{other}",
            code="invalid_method",
        )
    if body.hyperparameters is not None and method == "dpo":
        raise APIError(
            400,
            "Top-level hyperparameters apply to supervised jobs only; "
            "put them in method.dpo.hyperparameters.",
            param="hyperparameters",
            code="invalid_method",
        )
    chosen = getattr(body.method, method)
    if chosen is not None:
        return chosen.hyperparameters, f"method.{method}.hyperparameters"
    return body.hyperparameters, "hyperparameters"
