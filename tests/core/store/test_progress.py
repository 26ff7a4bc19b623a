"""The progress tables: idempotent points, two-phase message records, claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from core.store.engine import session_scope
from core.store.progress import (
    INTENT,
    POSTED,
    JobMessage,
    JobPollState,
    MetricPoint,
    NewPoint,
    add_metric_points,
    claim_jobs,
    ensure_poll_states,
    record_intent,
    record_posted,
    release_claims,
)
from tests.core.conftest import add_job

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def point(step: int, loss: float | None, valid: float | None = None) -> NewPoint:
    return NewPoint(
        step=step,
        total_steps=10,
        epoch=None,
        train_loss=loss,
        valid_loss=valid,
        tokens_per_second=None,
        reported_at=NOW,
    )


def stored_points(engine: Engine) -> list[tuple[int, float | None, float | None]]:
    with session_scope(engine) as session:
        rows = session.exec(select(MetricPoint).order_by(MetricPoint.step)).all()
    return [(p.step, p.train_loss, p.valid_loss) for p in rows]


def test_reading_the_same_events_twice_stores_each_step_once(engine: Engine) -> None:
    job = add_job(engine)
    first = [point(1, 2.0), point(2, 1.5)]
    with session_scope(engine) as session:
        add_metric_points(session, job_id=job.id, points=first)
    with session_scope(engine) as session:
        add_metric_points(session, job_id=job.id, points=[*first, point(3, 1.2)])
    assert stored_points(engine) == [(1, 2.0, None), (2, 1.5, None), (3, 1.2, None)]


def test_a_later_event_for_the_same_step_adds_the_validation_loss(engine: Engine) -> None:
    """The worker reports a step's eval loss in its own event, after the train loss."""
    job = add_job(engine)
    with session_scope(engine) as session:
        add_metric_points(session, job_id=job.id, points=[point(4, 1.0), point(4, None, 1.3)])
    with session_scope(engine) as session:
        add_metric_points(session, job_id=job.id, points=[point(8, 0.8)])
    with session_scope(engine) as session:
        add_metric_points(session, job_id=job.id, points=[point(8, None, 0.9)])
    assert stored_points(engine) == [(4, 1.0, 1.3), (8, 0.8, 0.9)]


def test_intent_survives_a_crash_before_posted(engine: Engine) -> None:
    job = add_job(engine)
    with session_scope(engine) as session:
        record_intent(session, job_id=job.id, key="epoch:1")
    # the process "dies" here: a new session sees an intent without a ts
    with session_scope(engine) as session:
        pending = session.exec(select(JobMessage)).one()
        assert (pending.state, pending.ts) == (INTENT, None)
        again = record_intent(session, job_id=job.id, key="epoch:1")
        assert again.id == pending.id  # a restart reuses the record, never adds a second
    with session_scope(engine) as session:
        record_posted(session, job_id=job.id, key="epoch:1", ts="1700000000.000200")
    with session_scope(engine) as session:
        done = session.exec(select(JobMessage)).one()
    assert (done.state, done.ts) == (POSTED, "1700000000.000200")


def test_claims_give_each_job_to_one_replica_until_the_lease_runs_out(engine: Engine) -> None:
    jobs = [add_job(engine) for _ in range(3)]
    final = add_job(engine, status="succeeded")
    with session_scope(engine) as session:
        assert ensure_poll_states(session) == 3  # final jobs get no state
    with session_scope(engine) as session:
        assert ensure_poll_states(session) == 0
    with session_scope(engine) as session:
        mine = claim_jobs(session, owner="a", now=NOW, lease=LEASE)
    with session_scope(engine) as session:
        theirs = claim_jobs(session, owner="b", now=NOW + timedelta(seconds=30), lease=LEASE)
    assert mine == [j.id for j in jobs] and final.id not in mine and theirs == []
    with session_scope(engine) as session:  # "a" died; its lease runs out
        taken = claim_jobs(session, owner="b", now=NOW + LEASE + timedelta(seconds=1), lease=LEASE)
    assert taken == mine
    with session_scope(engine) as session:
        release_claims(session, owner="b")
    with session_scope(engine) as session:
        assert claim_jobs(session, owner="a", now=NOW, lease=LEASE) == mine


def test_finalized_jobs_are_not_claimed(engine: Engine) -> None:
    job = add_job(engine)
    with session_scope(engine) as session:
        ensure_poll_states(session)
    with session_scope(engine) as session:
        state = session.get(JobPollState, job.id)
        assert state is not None
        state.finalized = True
        session.add(state)
    with session_scope(engine) as session:
        assert claim_jobs(session, owner="a", now=NOW, lease=LEASE) == []
