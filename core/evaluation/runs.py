"""Held-out evaluation runs in the database: queue, claim, execute, record.

A run is queued (one per job, unique job id) when a job that has held-out data
succeeds; any scheduler tick can then claim it. The claim is a conditional
UPDATE, so two replicas never run the same evaluation, and a run left
``running`` by a crashed process is claimed again after ``stale_after``.

A finished run stores its rendered report in the same transaction as its
status, and is claimed for posting the same way (:func:`claim_report`), so a
process dying between "finished" and "posted" leaves the report to the next.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from core.config import Settings
from core.errors import EvaluationError
from core.evaluation.arms import Arm, ChatProvider, Generation
from core.evaluation.examples import read_examples
from core.evaluation.heldout import HeldoutResult, ItemResult, run_heldout
from core.evaluation.stats import Summary
from core.store.datasets import Dataset, utcnow
from core.store.engine import session_scope
from core.store.evaluation import HeldoutItem, HeldoutRun, JudgeVerdict
from core.store.jobs import TrainingJob

PROVIDER_NAMES = ("openai", "azure", "worker")


def judge_arm(settings: Settings, *, default_provider: str) -> Arm | None:
    """The judge from ``TUNEBOT_JUDGE_MODEL``: ``model`` or ``provider:model``.

    A bare model runs on OpenAI when it is configured, else on the job's provider.
    """
    spec = (settings.judge_model or "").strip()
    if not spec:
        return None
    prefix, _, rest = spec.partition(":")
    if prefix in PROVIDER_NAMES and rest:
        return Arm("judge", prefix, rest)
    provider = "openai" if "openai" in settings.configured_providers else default_provider
    return Arm("judge", provider, spec)


def heldout_file(job: TrainingJob, dataset: Dataset | None, *, data_dir: Path) -> Path | None:
    """The held-out examples of a job, if it had any.

    A split chosen at job start is written by ``core.training.start.split_jsonl``
    to ``<data_dir>/jobs/<job>/validation.jsonl``; otherwise the dataset may
    carry a validation file of its own (a split made when it was validated).
    """
    split = data_dir / "jobs" / job.short_id / "validation.jsonl"
    if split.is_file():
        return split
    if dataset is not None and dataset.validation_path and Path(dataset.validation_path).is_file():
        return Path(dataset.validation_path)
    return None


def queue_runs(
    engine: Engine, *, data_dir: Path, max_age: timedelta = timedelta(days=1)
) -> list[int]:
    """Queue a run for each recently succeeded job with held-out data and none yet.

    ``max_age`` keeps a first deployment from evaluating every old job at once.
    """
    cutoff = utcnow() - max_age
    with session_scope(engine) as db:
        rows = db.exec(
            select(TrainingJob, Dataset)
            .outerjoin(Dataset, col(Dataset.id) == col(TrainingJob.dataset_id))
            .outerjoin(HeldoutRun, col(HeldoutRun.job_id) == col(TrainingJob.id))
            .where(
                TrainingJob.status == "succeeded",
                col(TrainingJob.fine_tuned_model).is_not(None),
                col(HeldoutRun.id).is_(None),
                (col(TrainingJob.finished_at).is_(None)) | (col(TrainingJob.finished_at) >= cutoff),
            )
        ).all()
    queued = []
    for job, dataset in rows:
        path = heldout_file(job, dataset, data_dir=data_dir)
        if path is None or job.id is None:
            continue
        run_id = queue_run(engine, job_id=job.id, data_path=str(path))
        if run_id is not None:
            queued.append(run_id)
    return queued


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


def execute_run(
    engine: Engine,
    run: HeldoutRun,
    *,
    providers: Mapping[str, ChatProvider],
    settings: Settings,
    render: Callable[[HeldoutResult], dict[str, Any]],
) -> HeldoutResult:
    """Evaluate the run's job on its held-out file and store items, verdicts, summary.

    ``render`` turns the result into the report to post (JSON-ready); it is
    stored with the final status, and the run is then claimed for posting by
    the caller.

    Raises:
        EvaluationError: the job or its file is gone, or nothing could be evaluated;
            the run is marked ``failed`` with the message first.
    """
    try:
        with session_scope(engine) as db:
            job = db.get(TrainingJob, run.job_id)
        if job is None or not job.fine_tuned_model:
            raise EvaluationError("The job has no fine-tuned model to evaluate.")
        judge = judge_arm(settings, default_provider=job.provider)
        examples = read_examples(Path(run.data_path), limit=settings.eval_max_prompts)
        result = run_heldout(
            examples,
            candidate=Arm("candidate", job.provider, job.fine_tuned_model),
            baseline=Arm("baseline", job.provider, job.base_model),
            providers=providers,
            generation=Generation(temperature=0.0, max_tokens=512, seed=0),
            judge=judge,
            concurrency=settings.eval_concurrency,
        )
    except EvaluationError as exc:
        _finish(engine, run, status="failed", error=exc.user_message())
        raise
    _store_items(engine, run, result, judge_model=judge.model if judge else None)
    _finish(engine, run, status="done", summary=summary_dict(result), report=render(result))
    return result


def _store_items(
    engine: Engine, run: HeldoutRun, result: HeldoutResult, *, judge_model: str | None
) -> None:
    assert run.id is not None
    with session_scope(engine) as db:
        # A re-claimed run starts over; the earlier attempt's rows go.
        old = select(HeldoutItem.id).where(HeldoutItem.run_id == run.id)
        db.exec(delete(JudgeVerdict).where(col(JudgeVerdict.item_id).in_(old)))
        db.exec(delete(HeldoutItem).where(col(HeldoutItem.run_id) == run.id))
        for item in result.items:
            row = _item_row(run.id, item)
            db.add(row)
            db.flush()
            assert row.id is not None
            for call in item.judge.calls if item.judge else ():
                db.add(
                    JudgeVerdict(
                        item_id=row.id,
                        judge_model=judge_model or "",
                        candidate_position=call.candidate_position,
                        choice=call.choice,
                        raw=call.raw if call.error is None else call.error,
                    )
                )


def _item_row(run_id: int, item: ItemResult) -> HeldoutItem:
    return HeldoutItem(
        run_id=run_id,
        index=item.index,
        prompt_json=json.dumps(item.example.prompt, ensure_ascii=False),
        reference=item.example.reference,
        candidate_text=item.candidate.text,
        baseline_text=item.baseline.text,
        candidate_error=item.candidate.error,
        baseline_error=item.baseline.error,
        candidate_f1=item.f1(item.candidate),
        baseline_f1=item.f1(item.baseline),
        candidate_exact=item.exact(item.candidate),
        baseline_exact=item.exact(item.baseline),
        judge_outcome=item.judge.outcome if item.judge else None,
    )


def _finish(
    engine: Engine,
    run: HeldoutRun,
    *,
    status: str,
    error: str | None = None,
    summary: dict[str, object] | None = None,
    report: dict[str, Any] | None = None,
) -> None:
    """Record the outcome and take on posting it (``posting_since``), in one transaction."""
    now = utcnow()
    with session_scope(engine) as db:
        row = db.get(HeldoutRun, run.id)
        assert row is not None
        row.status = status
        row.error = error
        row.summary_json = json.dumps(summary) if summary is not None else None
        row.report_json = json.dumps(report, ensure_ascii=False) if report is not None else None
        row.finished_at = now
        row.posting_since = now
        db.add(row)
    run.status, run.error, run.report_json = row.status, row.error, row.report_json


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


def _summary_numbers(summary: Summary | None) -> dict[str, object] | None:
    if summary is None:
        return None
    t = summary.tally
    return {
        "wins": t.wins,
        "losses": t.losses,
        "ties": t.ties,
        "win_rate": summary.win_rate,
        "ci": [summary.ci_low, summary.ci_high],
        "p_value": summary.p_value,
        "position_a_rate": summary.position_a_rate,
        "verdict": summary.verdict.value,
    }


def summary_dict(result: HeldoutResult) -> dict[str, object]:
    """The figures of a run as JSON-ready data (kept on the run row)."""
    return {
        "prompts": len(result.items),
        "classification": result.classification,
        "candidate": vars(result.candidate),
        "baseline": vars(result.baseline),
        "reference": _summary_numbers(result.reference),
        "judge": _summary_numbers(result.judge),
        "worst": [item.index for item in result.worst],
    }
