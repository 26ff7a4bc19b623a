"""The progress of a training job, derived from stored facts only.

The scheduler polls in one phase and renders in another; rendering reads the
last job object the provider returned (kept as JSON) and the stored metric
points, so anything shown can be recomputed after a restart. Nothing here
talks to a provider or to Slack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from core.store.jobs import FINAL_STATUSES
from core.training.events import from_timestamp

# Points used for the step rate behind the ETA: recent enough to follow a
# change of speed, enough to smooth a noisy step.
_RATE_WINDOW = 20


class Point(Protocol):
    """A stored metrics point (``core.store.progress.MetricPoint``)."""

    step: int
    total_steps: int | None
    epoch: float | None
    train_loss: float | None
    valid_loss: float | None
    tokens_per_second: float | None
    reported_at: datetime


@dataclass(frozen=True)
class JobSnapshot:
    """The fields of the provider's job object that progress depends on."""

    status: str
    n_epochs: int | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    estimated_finish: datetime | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    cost_usd: float | None = None
    # The hyperparameters the provider says it used (name -> value as given).
    hyperparameters: tuple[tuple[str, str], ...] = ()

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: object) -> datetime | None:
    return from_timestamp(value) if isinstance(value, int | float) and value > 0 else None


def _reported_cost(job: Mapping[str, Any]) -> float | None:
    """The provider's billed cost, when it reports one (OpenAI does not; some gateways do)."""
    for key in ("cost_usd", "cost", "total_cost"):
        value = job.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    usage = job.get("usage_metrics") or job.get("usage")
    if isinstance(usage, Mapping):
        return _reported_cost(usage)
    return None


def snapshot_from_json(job_json: str) -> JobSnapshot:
    """Parse the stored provider job object; unknown or missing fields become None."""
    job = json.loads(job_json)
    hyper = job.get("hyperparameters") or {}
    method = job.get("method") or {}
    supervised = (method.get("supervised") or {}).get("hyperparameters") or {}
    error = job.get("error") or {}
    return JobSnapshot(
        status=str(job.get("status") or "pending"),
        n_epochs=_int(hyper.get("n_epochs")) or _int(supervised.get("n_epochs")),
        created_at=_time(job.get("created_at")),
        finished_at=_time(job.get("finished_at")),
        estimated_finish=_time(job.get("estimated_finish")),
        fine_tuned_model=job.get("fine_tuned_model") or None,
        trained_tokens=_int(job.get("trained_tokens")),
        error_code=(error.get("code") or None) if isinstance(error, Mapping) else None,
        error_message=(error.get("message") or None) if isinstance(error, Mapping) else None,
        cost_usd=_reported_cost(job),
        hyperparameters=_hyperparameters(hyper or supervised),
    )


def _hyperparameters(values: object) -> tuple[tuple[str, str], ...]:
    """Scalar hyperparameters in the provider's order ("auto" kept: it is what was used)."""
    if not isinstance(values, Mapping):
        return ()
    return tuple(
        (str(name), str(value))
        for name, value in values.items()
        if isinstance(value, str | int | float) and not isinstance(value, bool)
    )


@dataclass(frozen=True)
class ProgressState:
    """Everything the progress message shows; None means "not known (yet)"."""

    status: str
    step: int | None
    total_steps: int | None
    epoch: float | None
    n_epochs: int | None
    train_loss: float | None
    valid_loss: float | None
    tokens_per_second: float | None
    elapsed: timedelta | None
    eta: timedelta | None
    queue_position: int | None

    @property
    def fraction(self) -> float | None:
        """Share of steps done, 1.0 once succeeded."""
        if self.status == "succeeded":
            return 1.0
        if self.step is None or not self.total_steps:
            return None
        return min(1.0, self.step / self.total_steps)


def _latest(points: Sequence[Point], attribute: str) -> float | None:
    for point in reversed(points):
        value = getattr(point, attribute)
        if value is not None:
            return float(value)
    return None


def _total_steps(points: Sequence[Point]) -> int | None:
    for point in reversed(points):
        if point.total_steps:
            return point.total_steps
    return None


def steps_per_second(points: Sequence[Point]) -> float | None:
    """Recent step rate from the points' report times (None with fewer than 2 points)."""
    window = list(points[-_RATE_WINDOW:])
    if len(window) < 2:
        return None
    seconds = (window[-1].reported_at - window[0].reported_at).total_seconds()
    steps = window[-1].step - window[0].step
    return steps / seconds if seconds > 0 and steps > 0 else None


def epoch_of(step: int, *, total_steps: int | None, n_epochs: int | None) -> float | None:
    """Epochs completed at ``step`` (fractional), when the job's shape is known."""
    if not total_steps or not n_epochs:
        return None
    return step * n_epochs / total_steps


def _tokens_per_second(
    points: Sequence[Point], *, rate: float | None, tokens_per_step: float | None
) -> float | None:
    reported = _latest(points[-1:], "tokens_per_second") if points else None
    if reported is not None:
        return reported
    return rate * tokens_per_step if rate and tokens_per_step else None


def derive_progress(
    job: JobSnapshot,
    points: Sequence[Point],
    *,
    now: datetime,
    running_since: datetime | None = None,
    queue_position: int | None = None,
    tokens_per_epoch: int | None = None,
) -> ProgressState:
    """Derive the progress message's content from the job and its points.

    Parameters:
        job: the provider's last job object, parsed.
        points: stored metric points in step order.
        now: the clock (aware UTC), passed in so the result is reproducible.
        running_since: when training (not queueing) began, if seen.
        queue_position: the provider's last queue position, shown while queued.
        tokens_per_epoch: the dataset's trained tokens per epoch, used for
            tokens/s when the provider does not report it.
    """
    total = _total_steps(points)
    step = points[-1].step if points else None
    if job.status == "succeeded" and total:
        step = total
    rate = steps_per_second(points)
    tokens_per_step = (
        tokens_per_epoch * job.n_epochs / total
        if tokens_per_epoch and job.n_epochs and total
        else None
    )
    epoch = _latest(points[-1:], "epoch") if points else None
    if epoch is None and step is not None:
        epoch = epoch_of(step, total_steps=total, n_epochs=job.n_epochs)
    start = running_since or job.created_at
    end = job.finished_at if job.is_final and job.finished_at else now
    elapsed = end - start if start and end >= start else None
    eta: timedelta | None = None
    if not job.is_final:
        if job.estimated_finish and job.estimated_finish > now:
            eta = job.estimated_finish - now
        elif rate and total and step is not None:
            eta = timedelta(seconds=(total - step) / rate)
    return ProgressState(
        status=job.status,
        step=step,
        total_steps=total,
        epoch=epoch,
        n_epochs=job.n_epochs,
        train_loss=_latest(points, "train_loss"),
        valid_loss=_latest(points, "valid_loss"),
        tokens_per_second=_tokens_per_second(points, rate=rate, tokens_per_step=tokens_per_step),
        elapsed=elapsed,
        eta=eta,
        queue_position=queue_position if job.status in ("queued", "validating_files") else None,
    )
