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


# Needles in the provider's error code or message -> what to do, and the front-end
# action that helps (each front end words that action its own way).
_HINTS: tuple[tuple[tuple[str, ...], str, NextStep | None], ...] = (
    (
        ("permission", "not_allowed", "unauthorized", "forbidden"),
        "This organisation can no longer fine-tune on this provider; start the job on the "
        "team's worker instead.",
        NextStep.START_ON_WORKER,
    ),
    (
        ("quota", "billing", "rate_limit", "insufficient"),
        "The provider refused for quota or billing: check the account's limits, then start again.",
        None,
    ),
    (
        ("file", "format", "training_file", "validation_file", "invalid_example"),
        "The provider rejected the data: fix the file (the validation report in this thread "
        "lists problems), drop it again and start a new job.",
        None,
    ),
    (
        ("model", "not_found"),
        "The base model is not available for fine-tuning here: pick another one.",
        NextStep.LIST_MODELS,
    ),
    (
        ("memory", "oom", "cuda"),
        "The worker ran out of memory: start again with 4-bit on, a lower LoRA rank or shorter "
        "examples.",
        None,
    ),
)
_DEFAULT_HINT = (
    "Check the provider's dashboard for details, then start again; "
    "if it keeps failing, ask the bot's admins."
)


@dataclass(frozen=True)
class FailureHint:
    """What to do about a failed job: plain advice, and the action that helps, if any."""

    text: str
    next_step: NextStep | None = None


def failure_hint(code: str | None, message: str | None) -> FailureHint:
    """What to do about a failed job, from the provider's error code and message."""
    text = f"{code or ''} {message or ''}".lower()
    for needles, hint, step in _HINTS:
        if any(needle in text for needle in needles):
            return FailureHint(hint, step)
    return FailureHint(_DEFAULT_HINT, NextStep.START_AGAIN)


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


def expected_milestones(
    job: JobSnapshot,
    points: Sequence[Point],
    *,
    running_since: datetime | None = None,
    queue_position: int | None = None,
    silent_since: datetime | None = None,
) -> list[Milestone]:
    """Every reply the job deserves so far, in posting order.

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
