"""Which thread replies a job deserves, derived from stored facts.

The list is recomputed on every tick from the job snapshot and the stored
points; the scheduler posts each key it has not recorded yet, in order. A key
is never posted twice (``job_message`` is unique on job + key), and because the
list depends only on stored facts, a restart recomputes the same keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.errors import NextStep
from core.training.progress import JobSnapshot, Point

STARTED = "started"
PLOT = "plot"
RESULT = "result"
FINAL = "final"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Milestone:
    """One reply in the job's thread. ``kind`` picks the wording; the rest fills it."""

    key: str
    kind: str  # started | epoch | plot | succeeded | failed | cancelled | silence
    epoch: int | None = None
    n_epochs: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    queue_wait: timedelta | None = None
    queue_position: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    hint: FailureHint | None = None
    silent_since: datetime | None = None


# Error classes, checked in this order: the first class with a needle in the
# provider's error code or message wins. Order matters: a CUDA out-of-memory
# message names the model it was loading, and a permission error names the file.
PERMISSION = "permission"
OUT_OF_MEMORY = "out_of_memory"
OUTAGE = "outage"
QUOTA = "quota"
DATA = "data"
MODEL = "model"
UNKNOWN = "unknown"
_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (OUT_OF_MEMORY, ("out of memory", "outofmemory", "oom", "cuda error: out", "memoryerror")),
    (
        PERMISSION,
        (
            "permission",
            "not_allowed",
            "not allowed",
            "unauthorized",
            "forbidden",
            "access denied",
            "do not have access",
            "fine_tuning_unavailable",
        ),
    ),
    (
        OUTAGE,
        (
            "server_error",
            "internal error",
            "service unavailable",
            "unavailable",
            "timed out",
            "interrupted",
            "timeout",
            "overloaded",
            "bad gateway",
            "502",
            "503",
            "504",
        ),
    ),
    (QUOTA, ("quota", "billing", "rate_limit", "rate limit", "insufficient")),
    (
        DATA,
        (
            "invalid_file",
            "training_file",
            "validation_file",
            "invalid_example",
            "invalid_training",
            "file format",
            "jsonl",
            "examples",
            "dataset",
        ),
    ),
    (MODEL, ("model_not_found", "not_found", "does not exist", "not available for fine-tuning")),
)
# What to do about each class, and the front-end action that helps (each front
# end words that action its own way).
_ADVICE: dict[str, tuple[str, NextStep | None]] = {
    OUT_OF_MEMORY: (
        "The GPU ran out of memory: start again with a smaller batch size, 4-bit loading on, "
        "or a shorter maximum sequence length.",
        NextStep.START_AGAIN,
    ),
    PERMISSION: (
        "This organisation is not allowed to fine-tune on this provider; train on the team's "
        "worker instead.",
        NextStep.START_ON_WORKER,
    ),
    OUTAGE: (
        "The provider had an outage or timed out; nothing is wrong with the job. Retry later.",
        NextStep.START_AGAIN,
    ),
    QUOTA: (
        "The provider refused for quota or billing: check the account's limits, then start again.",
        None,
    ),
    DATA: (
        "The provider rejected the data: validate the file (drop it again or press "
        "Validate fixed file), fix what the report lists, then start a new job.",
        None,
    ),
    MODEL: (
        "The base model is not available for fine-tuning here: pick another one.",
        NextStep.LIST_MODELS,
    ),
    UNKNOWN: (
        "Check the provider's dashboard for details, then start again; "
        "if it keeps failing, ask the bot's admins.",
        NextStep.START_AGAIN,
    ),
}


@dataclass(frozen=True)
class FailureHint:
    """What to do about a failed job: its error class, plain advice, and the action that helps."""

    text: str
    next_step: NextStep | None = None
    error_class: str = UNKNOWN


def error_class(code: str | None, message: str | None) -> str:
    """The class of a provider error (:data:`OUT_OF_MEMORY`, :data:`PERMISSION`, ...)."""
    text = f"{code or ''} {message or ''}".lower()
    for name, needles in _CLASSES:
        if any(needle in text for needle in needles):
            return name
    return UNKNOWN


def failure_hint(code: str | None, message: str | None) -> FailureHint:
    """What to do about a failed job, from the provider's error code and message."""
    name = error_class(code, message)
    text, step = _ADVICE[name]
    return FailureHint(text, step, name)


def _last_before(points: Sequence[Point], step: int, attribute: str) -> float | None:
    for point in reversed(points):
        if point.step <= step and getattr(point, attribute) is not None:
            return float(getattr(point, attribute))
    return None


def _epoch_boundaries(job: JobSnapshot, points: Sequence[Point]) -> list[tuple[int, int | None]]:
    """(epoch, boundary step) for each epoch finished so far."""
    total = next((p.total_steps for p in reversed(points) if p.total_steps), None)
    last_step = points[-1].step if points else -1
    done = job.status == "succeeded"
    if job.n_epochs and total:
        bounds = [(k, round(k * total / job.n_epochs)) for k in range(1, job.n_epochs + 1)]
        return [(k, b) for k, b in bounds if done or last_step >= b]
    epochs = [p.epoch for p in points if p.epoch is not None]
    reached = int(max(epochs) + 1e-6) if epochs else 0
    if done and job.n_epochs:
        reached = job.n_epochs
    finished: list[tuple[int, int | None]] = []
    for k in range(1, reached + 1):
        at = next((p.step for p in points if p.epoch is not None and p.epoch >= k - 1e-6), None)
        finished.append((k, at))
    return finished


def _started(
    job: JobSnapshot,
    points: Sequence[Point],
    *,
    running_since: datetime | None,
    queue_position: int | None,
) -> Milestone | None:
    if not (points or running_since or job.status in ("running", "succeeded")):
        return None
    wait = running_since - job.created_at if running_since and job.created_at else None
    return Milestone(
        key=STARTED,
        kind="started",
        queue_wait=wait if wait and wait.total_seconds() >= 0 else None,
        queue_position=queue_position,
        n_epochs=job.n_epochs,
    )


def finished_epochs(job: JobSnapshot, points: Sequence[Point]) -> list[Milestone]:
    """Each finished epoch with its losses at the boundary, in order.

    Not thread replies: one reply per epoch buried the outcome, so the progress
    message shows them instead (it is edited, so nobody is notified per epoch).
    """
    found = []
    for epoch, bound in _epoch_boundaries(job, points):
        step = bound if bound is not None else (points[-1].step if points else 0)
        found.append(
            Milestone(
                key=f"epoch:{epoch}",
                kind="epoch",
                epoch=epoch,
                n_epochs=job.n_epochs,
                train_loss=_last_before(points, step, "train_loss"),
                valid_loss=_last_before(points, step, "valid_loss"),
            )
        )
    return found


def expected_milestones(
    job: JobSnapshot,
    points: Sequence[Point],
    *,
    running_since: datetime | None = None,
    queue_position: int | None = None,
    silent_since: datetime | None = None,
) -> list[Milestone]:
    """Every reply the job deserves so far, in posting order (epochs are not
    replies: :func:`finished_epochs`).

    Parameters:
        job: the provider's last job object.
        points: stored metric points in step order.
        running_since: when training began, if seen.
        queue_position: the last queue position the provider gave.
        silent_since: when the provider last answered, if it has been silent
            longer than the alert threshold (one alert per silence).
    """
    found: list[Milestone] = []
    started = _started(job, points, running_since=running_since, queue_position=queue_position)
    if started:
        found.append(started)
    if silent_since is not None and not job.is_final:
        found.append(
            Milestone(
                key=f"silence:{int((silent_since - _EPOCH).total_seconds())}",
                kind="silence",
                silent_since=silent_since,
            )
        )
    if job.status == "succeeded":
        if any(p.train_loss is not None or p.valid_loss is not None for p in points):
            found.append(Milestone(key=PLOT, kind="plot"))
        found.append(Milestone(key=RESULT, kind="succeeded"))
    elif job.status in ("failed", "cancelled"):
        found.append(
            Milestone(
                key=FINAL,
                kind=job.status,
                error_code=job.error_code,
                error_message=job.error_message,
                hint=failure_hint(job.error_code, job.error_message)
                if job.status == "failed"
                else None,
            )
        )
    return found
