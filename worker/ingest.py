"""Turn a trainer's progress lines into job events and checkpoint records.

Why in the API process: events must be paginated by stable ids in OpenAI's
newest-first order, which a database does well and a JSONL file does not. The
byte offset read so far is stored with the job in the same transaction as the
events, so after a crash no line is ingested twice or lost.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlmodel import Session

from worker.job_spec import read_new_lines
from worker.records import CheckpointRecord, EventRecord
from worker.store import WorkerStore, job_row, new_id, recent_metric_events

METRIC_KEYS = (
    "step",
    "total_steps",
    "train_loss",
    "train_mean_token_accuracy",
    "learning_rate",
    "tokens_per_second",
)
PREFERENCE_KEYS = ("train_reward_margin", "train_reward_accuracy")
"""DPO jobs only; absent from supervised jobs' events rather than null."""


def ingest_progress(store: WorkerStore, job_id: str, path: Path) -> int:
    """Store lines written since the last call; return how many were read."""
    with store.session() as s:
        job = job_row(s, job_id)
        records, offset = read_new_lines(path, job.progress_offset)
        if offset == job.progress_offset:
            return 0
        last_eval: dict[str, Any] = {}
        for record in records:
            created = int(record.get("time", time.time()))
            kind = record.get("kind")
            if kind == "metrics":
                s.add(_metrics_event(job_id, record, created))
                job.trained_tokens = int(record.get("trained_tokens") or 0)
                eta = record.get("eta_seconds")
                job.estimated_finish = int(time.time() + eta) if eta is not None else None
            elif kind == "eval":
                last_eval = record
                s.add(_eval_event(job_id, record, created))
            elif kind == "checkpoint":
                if last_eval.get("step") != record.get("step"):
                    last_eval = _stored_eval(s, job_id, record.get("step"))
                s.add(_checkpoint(job_id, record, created, last_eval))
                s.add(_event(job_id, f"Checkpoint created at step {record['step']}", created))
            elif kind == "message":
                s.add(_event(job_id, str(record.get("message", "")), created))
        job.progress_offset = offset
        s.add(job)
    return len(records)


def _stored_eval(session: Session, job_id: str, step: object) -> dict[str, Any]:
    """The eval at ``step`` when it was ingested in an earlier batch than its checkpoint."""
    for event in recent_metric_events(session, job_id):
        data = json.loads(event.data_json or "{}")
        if "valid_loss" in data and data.get("step") == step:
            return dict(data)
    return {}


def _event(
    job_id: str, message: str, created: int, *, type_: str = "message", data: Any = None
) -> EventRecord:
    return EventRecord(
        id=new_id("ftevent"),
        job_id=job_id,
        created_at=created,
        type=type_,
        message=message,
        data_json=json.dumps(data) if data is not None else None,
    )


def _metrics_event(job_id: str, record: dict[str, Any], created: int) -> EventRecord:
    data = {key: record.get(key) for key in METRIC_KEYS}
    data.update({key: record[key] for key in PREFERENCE_KEYS if key in record})
    message = f"Step {data['step']}/{data['total_steps']}: training loss={data['train_loss']:.2f}"
    if "train_reward_margin" in data:
        message += (
            f", reward margin={data['train_reward_margin']:.2f}, "
            f"reward accuracy={data.get('train_reward_accuracy', 0):.2f}"
        )
    return _event(job_id, message, created, type_="metrics", data=data)


def _eval_event(job_id: str, record: dict[str, Any], created: int) -> EventRecord:
    data = {
        "step": record.get("step"),
        "valid_loss": record.get("valid_loss"),
        "valid_mean_token_accuracy": record.get("valid_mean_token_accuracy"),
    }
    for key in ("valid_reward_margin", "valid_reward_accuracy"):
        if key in record:
            data[key] = record[key]
    loss = data["valid_loss"]
    shown = f"{loss:.2f}" if isinstance(loss, int | float) else "n/a"
    message = f"Step {data['step']}: validation loss={shown}"
    return _event(job_id, message, created, type_="metrics", data=data)


def _checkpoint(
    job_id: str, record: dict[str, Any], created: int, last_eval: dict[str, Any]
) -> CheckpointRecord:
    metrics = {
        "step": record.get("step"),
        "train_loss": record.get("train_loss"),
        "train_mean_token_accuracy": record.get("train_mean_token_accuracy"),
    }
    if last_eval.get("step") == record.get("step"):
        metrics["valid_loss"] = last_eval.get("valid_loss")
        metrics["valid_mean_token_accuracy"] = last_eval.get("valid_mean_token_accuracy")
    return CheckpointRecord(
        id=new_id("ftckpt"),
        job_id=job_id,
        created_at=created,
        step=int(record["step"]),
        path=str(record["path"]),
        metrics_json=json.dumps(metrics),
    )
