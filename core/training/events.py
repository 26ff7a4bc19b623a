"""Reading provider job events (OpenAI's ``fine_tuning.job.event``) into facts we keep.

OpenAI, Azure OpenAI and the worker all send ``type: "metrics"`` events whose
``data`` holds ``step``/``total_steps``/``train_loss``/``valid_loss``; the worker
adds ``epoch`` and ``tokens_per_second``. Message events carry the rest
(queue position, "job started"). Field names vary a little between providers,
so each value is looked up under the names seen in the wild.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from core.store.progress import NewPoint

_VALID_LOSS_KEYS = ("valid_loss", "eval_loss", "full_valid_loss", "validation_loss")
_TRAIN_LOSS_KEYS = ("train_loss", "loss", "training_loss")
_TOKENS_PER_SECOND_KEYS = ("tokens_per_second", "train_tokens_per_second")
_QUEUE_POSITION = re.compile(r"queue\D{0,40}?(\d+)|position\D{0,20}?(\d+)", re.IGNORECASE)
_STARTED = re.compile(r"(fine-tuning|training) (job )?(has )?started|job started", re.IGNORECASE)


class JobEvent(Protocol):
    """The fields of ``openai.types.fine_tuning.FineTuningJobEvent`` read here (read-only)."""

    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> int: ...
    @property
    def message(self) -> str: ...
    @property
    def data(self) -> object | None: ...
    @property
    def type(self) -> str | None: ...


@dataclass
class EventDigest:
    """What a batch of new events told us, oldest to newest."""

    points: list[NewPoint] = field(default_factory=list)
    queue_position: int | None = None
    started_at: datetime | None = None
    newest_event_id: str | None = None


def from_timestamp(seconds: int | float) -> datetime:
    """Provider unix seconds -> aware UTC, the form the store keeps."""
    return datetime.fromtimestamp(seconds, UTC)


def _number(data: Mapping[str, Any], keys: Iterable[str]) -> float | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def metric_point(data: Mapping[str, Any], *, reported_at: datetime) -> NewPoint | None:
    """One metrics event's ``data`` -> a point, or None when it has no step."""
    step = data.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return None
    total = data.get("total_steps")
    return NewPoint(
        step=step,
        total_steps=total if isinstance(total, int) and total > 0 else None,
        epoch=_number(data, ("epoch",)),
        train_loss=_number(data, _TRAIN_LOSS_KEYS),
        valid_loss=_number(data, _VALID_LOSS_KEYS),
        tokens_per_second=_number(data, _TOKENS_PER_SECOND_KEYS),
        reported_at=reported_at,
    )


def digest(events: Iterable[JobEvent]) -> EventDigest:
    """Fold new events (oldest first) into points and the few facts the thread shows."""
    result = EventDigest()
    for event in events:
        result.newest_event_id = event.id
        at = from_timestamp(event.created_at)
        if event.type == "metrics" and isinstance(event.data, Mapping):
            point = metric_point(event.data, reported_at=at)
            if point is not None:
                result.points.append(point)
            continue
        message = event.message or ""
        if "queue" in message.lower():
            match = _QUEUE_POSITION.search(message)
            if match:
                result.queue_position = int(match.group(1) or match.group(2))
        if _STARTED.search(message) and result.started_at is None:
            result.started_at = at
    return result
