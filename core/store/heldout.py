"""Queries of held-out evaluation runs (tables in :mod:`core.store.evaluation`).

Claims are conditional UPDATEs: of two processes racing for a run (to
evaluate it, or to post its report), only one sees a changed row.
:mod:`core.evaluation.runs` holds the rules and calls these.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from core.store.datasets import Dataset, utcnow
from core.store.engine import session_scope
from core.store.evaluation import HeldoutItem, HeldoutRun, JudgeVerdict
from core.store.jobs import TrainingJob


def succeeded_jobs_without_run(
    engine: Engine, *, finished_after: datetime
) -> list[tuple[TrainingJob, Dataset | None]]:
    """Succeeded jobs with a model, no held-out run yet, finished after the cutoff."""
    with session_scope(engine) as db:
        rows = db.exec(
            select(TrainingJob, Dataset)
            .outerjoin(Dataset, col(Dataset.id) == col(TrainingJob.dataset_id))
            .outerjoin(HeldoutRun, col(HeldoutRun.job_id) == col(TrainingJob.id))
            .where(
                TrainingJob.status == "succeeded",
                col(TrainingJob.fine_tuned_model).is_not(None),
                col(HeldoutRun.id).is_(None),
                (col(TrainingJob.finished_at).is_(None))
                | (col(TrainingJob.finished_at) >= finished_after),
            )
        ).all()
    return [(job, dataset) for job, dataset in rows]


def queue_run(engine: Engine, *, job_id: int, data_path: str) -> int | None:
    """Queue one run; ``None`` when the job already has one (unique job id)."""
    try:
        with session_scope(engine) as db:
            run = HeldoutRun(job_id=job_id, data_path=data_path)
            db.add(run)
        return run.id
    except IntegrityError:
        return None


def _claimable(now: datetime, stale_after: timedelta) -> Any:
    return (col(HeldoutRun.status) == "pending") | (
        (col(HeldoutRun.status) == "running") & (col(HeldoutRun.started_at) < now - stale_after)
    )


def claim_run(engine: Engine, *, stale_after: timedelta = timedelta(hours=1)) -> HeldoutRun | None:
    """Take the oldest pending (or abandoned) run; ``None`` when there is nothing to do."""
    now = utcnow()
    return _claim_oldest(engine, _claimable(now, stale_after), status="running", started_at=now)


def _claim_oldest(engine: Engine, condition: Any, **values: Any) -> HeldoutRun | None:
    """Set ``values`` on the oldest run matching ``condition``, if no one else got it first.

    The conditional UPDATE is the claim: of two processes racing for a run,
    only one sees a changed row.
    """
    with session_scope(engine) as db:
        candidates = db.exec(
            select(HeldoutRun.id).where(condition).order_by(col(HeldoutRun.id)).limit(5)
        ).all()
    for run_id in candidates:
        with session_scope(engine) as db:
            claimed = db.exec(
                update(HeldoutRun)
                .where(col(HeldoutRun.id) == run_id)
                .where(condition)
                .values(**values)
            )
            if claimed.rowcount:
                return db.get(HeldoutRun, run_id)
    return None


def replace_items(
    engine: Engine,
    *,
    run_id: int,
    items: Sequence[tuple[HeldoutItem, Sequence[JudgeVerdict]]],
) -> None:
    """Store a run's items and their judge verdicts, replacing an earlier attempt's."""
    with session_scope(engine) as db:
        old = select(HeldoutItem.id).where(HeldoutItem.run_id == run_id)
        db.exec(delete(JudgeVerdict).where(col(JudgeVerdict.item_id).in_(old)))
        db.exec(delete(HeldoutItem).where(col(HeldoutItem.run_id) == run_id))
        for row, verdicts in items:
            db.add(row)
            db.flush()
            assert row.id is not None
            for verdict in verdicts:
                verdict.item_id = row.id
                db.add(verdict)


def finish_run(
    engine: Engine,
    *,
    run_id: int,
    status: str,
    error: str | None,
    summary_json: str | None,
    report_json: str | None,
) -> HeldoutRun:
    """Record a run's outcome and claim it for posting (``posting_since``), in one transaction."""
    now = utcnow()
    with session_scope(engine) as db:
        row = db.get(HeldoutRun, run_id)
        assert row is not None
        row.status = status
        row.error = error
        row.summary_json = summary_json
        row.report_json = report_json
        row.finished_at = now
        row.posting_since = now
        db.add(row)
    return row


def _unposted(now: datetime, lease: timedelta) -> Any:
    return (
        col(HeldoutRun.status).in_(("done", "failed"))
        & col(HeldoutRun.posted_ts).is_(None)
        & (col(HeldoutRun.posting_since).is_(None) | (col(HeldoutRun.posting_since) < now - lease))
    )


def claim_report(
    engine: Engine, *, lease: timedelta = timedelta(minutes=5), exclude: Collection[int] = ()
) -> HeldoutRun | None:
    """Take a finished run whose report is not in Slack and that no live process is posting.

    ``exclude``: runs the caller already tried this round (Slack failed), so a
    loop over the claims ends.

    ``lease``: longer than posting a report ever takes; a claim older than that
    was left by a process that died, and the report is taken over (the caller
    then finds in the thread whatever the dead process had already posted).
    """
    now = utcnow()
    condition = _unposted(now, lease) & col(HeldoutRun.id).not_in(list(exclude))
    return _claim_oldest(engine, condition, posting_since=now)


def release_report(engine: Engine, run_id: int) -> None:
    """Give back a posting claim (Slack failed), so the next tick tries again."""
    with session_scope(engine) as db:
        db.exec(update(HeldoutRun).where(col(HeldoutRun.id) == run_id).values(posting_since=None))


def mark_posted(engine: Engine, run_id: int, ts: str) -> None:
    """Record that the report is in Slack, so no tick posts it again."""
    with session_scope(engine) as db:
        row = db.get(HeldoutRun, run_id)
        if row is not None:
            row.posted_ts = ts
            db.add(row)
