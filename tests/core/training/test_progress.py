"""Deriving the progress message's content and the thread's milestones from stored facts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from pytest import approx

from core.errors import NextStep
from core.store.progress import NewPoint
from core.training.milestones import expected_milestones, failure_hint, finished_epochs
from core.training.progress import JobSnapshot, derive_progress, snapshot_from_json

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def points(n: int, *, total: int = 12, every_valid: int = 4) -> list[NewPoint]:
    """n steps, one every 10 s from T0+60 s, loss falling, validation every few steps."""
    return [
        NewPoint(
            step=s,
            total_steps=total,
            epoch=None,
            train_loss=3.0 - 0.2 * s,
            valid_loss=3.1 - 0.2 * s if s % every_valid == 0 else None,
            tokens_per_second=None,
            reported_at=T0 + timedelta(seconds=60 + 10 * s),
        )
        for s in range(1, n + 1)
    ]


def snap(status: str, **extra: object) -> JobSnapshot:
    return JobSnapshot(status=status, n_epochs=3, created_at=T0, **extra)  # type: ignore[arg-type]


def test_running_job_shows_step_epoch_losses_rate_and_eta() -> None:
    pts = points(6)
    state = derive_progress(
        snap("running"),
        pts,
        now=T0 + timedelta(seconds=130),
        running_since=T0 + timedelta(seconds=60),
        tokens_per_epoch=4000,
    )
    assert (state.step, state.total_steps) == (6, 12)
    assert state.epoch == 1.5  # 6 of 12 steps over 3 epochs
    assert state.train_loss == approx(1.8) and state.valid_loss == approx(2.3)
    assert state.fraction == 0.5
    assert state.elapsed == timedelta(seconds=70)
    assert state.eta == timedelta(seconds=60)  # 6 steps left at 0.1 step/s
    # 4000 tokens/epoch * 3 epochs / 12 steps = 1000 tokens/step at 0.1 step/s
    assert state.tokens_per_second == approx(100.0)


def test_provider_estimate_wins_and_final_jobs_have_no_eta() -> None:
    finish = T0 + timedelta(minutes=30)
    running = derive_progress(snap("running", estimated_finish=finish), points(2), now=T0)
    assert running.eta == timedelta(minutes=30)
    done = derive_progress(
        snap("succeeded", finished_at=T0 + timedelta(minutes=5)),
        points(10),
        now=T0 + timedelta(hours=1),
    )
    assert done.eta is None and done.step == 12 and done.fraction == 1.0
    assert done.elapsed == timedelta(minutes=5)


def test_queued_job_shows_its_queue_position_only_while_queued() -> None:
    assert derive_progress(snap("queued"), [], now=T0, queue_position=3).queue_position == 3
    assert derive_progress(snap("running"), [], now=T0, queue_position=3).queue_position is None
    empty = derive_progress(snap("queued"), [], now=T0)
    assert empty.step is None and empty.fraction is None and empty.eta is None


def test_snapshot_reads_openai_job_json_and_reported_cost() -> None:
    job = {
        "id": "ftjob-1",
        "status": "failed",
        "created_at": 1_700_000_000,
        "finished_at": 1_700_000_600,
        "hyperparameters": {"n_epochs": "auto"},
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4}}},
        "error": {"code": "invalid_training_file", "message": "bad line 3", "param": None},
        "trained_tokens": None,
        "usage_metrics": {"cost_usd": 1.25},
    }
    snapshot = snapshot_from_json(json.dumps(job))
    assert snapshot.n_epochs == 4 and snapshot.is_final
    assert snapshot.error_code == "invalid_training_file" and snapshot.cost_usd == 1.25
    assert snapshot.created_at == datetime.fromtimestamp(1_700_000_000, UTC)


def keys(milestones: list) -> list[str]:  # type: ignore[type-arg]
    return [m.key for m in milestones]


def test_milestones_grow_with_the_job_in_a_fixed_order() -> None:
    assert keys(expected_milestones(snap("queued"), [])) == []
    running = expected_milestones(
        snap("running"), points(3), running_since=T0 + timedelta(minutes=2), queue_position=5
    )
    assert keys(running) == ["started"]
    assert running[0].queue_wait == timedelta(minutes=2) and running[0].queue_position == 5
    # Epochs are not replies (one per epoch buried the outcome): the progress message shows them.
    assert keys(expected_milestones(snap("running"), points(8))) == ["started"]
    two_epochs = finished_epochs(snap("running"), points(8))
    assert keys(two_epochs) == ["epoch:1", "epoch:2"]
    # epoch 2 ends at step 8: the losses are the last ones at or before it
    assert two_epochs[1].train_loss == approx(1.4) and two_epochs[1].valid_loss == approx(1.5)
    done = expected_milestones(snap("succeeded"), points(12))
    assert keys(done) == ["started", "plot", "result"]
    assert keys(finished_epochs(snap("succeeded"), points(12))) == ["epoch:1", "epoch:2", "epoch:3"]


def test_epochs_from_reported_epoch_when_total_steps_unknown() -> None:
    pts = [
        NewPoint(
            step=s,
            total_steps=None,
            epoch=s / 4,
            train_loss=1.0,
            valid_loss=None,
            tokens_per_second=None,
            reported_at=T0,
        )
        for s in range(1, 10)
    ]
    assert keys(finished_epochs(JobSnapshot(status="running"), pts)) == ["epoch:1", "epoch:2"]


def test_failed_and_cancelled_jobs_end_with_one_final_reply() -> None:
    failed = expected_milestones(
        snap("failed", error_code="invalid_training_file", error_message="line 3"), []
    )
    assert keys(failed) == ["final"] and failed[0].kind == "failed"
    assert failed[0].hint is not None and "validate the file" in failed[0].hint.text
    cancelled = expected_milestones(snap("cancelled"), points(5))
    assert keys(cancelled) == ["started", "final"]
    assert cancelled[-1].kind == "cancelled" and cancelled[-1].hint is None


def test_silence_alert_is_one_key_per_silence() -> None:
    since = T0 + timedelta(minutes=1)
    first = expected_milestones(snap("running"), points(2), silent_since=since)
    again = expected_milestones(snap("running"), points(2), silent_since=since)
    assert keys(first) == keys(again) == ["started", f"silence:{int(since.timestamp())}"]
    assert "silence" not in "".join(
        keys(expected_milestones(snap("failed"), [], silent_since=since))
    )


def test_failure_hints_say_what_to_do() -> None:
    denied = failure_hint("permission_denied", None)
    assert "worker" in denied.text and denied.next_step is NextStep.START_ON_WORKER
    assert "quota" in failure_hint("insufficient_quota", "You exceeded your quota").text
    assert "memory" in failure_hint("oom", "CUDA out of memory").text
    assert failure_hint(None, None).next_step is NextStep.START_AGAIN
