"""Held-out evaluation runs in the database: queue, claim, execute, record.

Rows are read and written through :mod:`core.store.heldout` (its claim
functions are re-exported here). A run is queued (one per job, unique job
id) when a job that has held-out data succeeds; any scheduler tick can then
claim it. The claim is a conditional UPDATE, so two replicas never run the
same evaluation, and a run left
``running`` by a crashed process is claimed again after ``stale_after``.

A finished run stores its result as data (:class:`StoredReport`; each front
end renders it its own way) in the same transaction as its status, and is
claimed for posting the same way (:func:`claim_report`), so a process dying
between "finished" and "posted" leaves the report to the next.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pydantic import TypeAdapter
from sqlalchemy.engine import Engine

from core.config import Settings
from core.errors import EvaluationError
from core.evaluation.arms import Arm, ChatProvider, Generation
from core.evaluation.examples import Example, read_examples
from core.evaluation.heldout import HeldoutResult, ItemResult, run_heldout
from core.evaluation.stats import Summary
from core.storage import SharedStorage
from core.store.datasets import Dataset, utcnow
from core.store.evaluation import HeldoutItem, HeldoutRun, JudgeVerdict
from core.store.heldout import (
    claim_report,
    claim_run,
    finish_run,
    mark_posted,
    queue_run,
    release_report,
    replace_items,
    succeeded_jobs_without_run,
)
from core.store.jobs import TrainingJob, get_job
from core.training.start import split_key

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


def heldout_file(
    job: TrainingJob, dataset: Dataset | None, *, storage: SharedStorage
) -> str | None:
    """The shared-storage location of a job's held-out examples, if it had any.

    A split chosen at job start is stored by ``core.training.start`` under
    :func:`~core.training.start.split_key`; otherwise the dataset may carry a
    validation file of its own (a split made when it was validated).
    """
    split = storage.location(split_key(job.short_id))
    if storage.exists(split):
        return split
    if dataset is not None and dataset.validation_path and storage.exists(dataset.validation_path):
        return dataset.validation_path
    return None


def read_shared_examples(
    storage: SharedStorage, location: str, *, limit: int | None = None
) -> list[Example]:
    """:func:`read_examples` of a file in shared storage (a local copy while reading).

    Raises:
        EvaluationError: the file is gone or holds no usable chat example.
    """
    try:
        with storage.local_copy(location) as path:
            return read_examples(path, limit=limit)
    except FileNotFoundError:
        raise EvaluationError(
            f"The evaluation file {Path(location).name} is missing.",
            hint="Upload the dataset again or give another held-out file.",
        ) from None


def queue_runs(
    engine: Engine, *, storage: SharedStorage, max_age: timedelta = timedelta(days=1)
) -> list[int]:
    """Queue a run for each recently succeeded job with held-out data and none yet.

    ``max_age`` keeps a first deployment from evaluating every old job at once.
    """
    rows = succeeded_jobs_without_run(engine, finished_after=utcnow() - max_age)
    queued = []
    for job, dataset in rows:
        location = heldout_file(job, dataset, storage=storage)
        if location is None or job.id is None:
            continue
        run_id = queue_run(engine, job_id=job.id, data_path=location)
        if run_id is not None:
            queued.append(run_id)
    return queued


def execute_run(
    engine: Engine,
    run: HeldoutRun,
    *,
    providers: Mapping[str, ChatProvider],
    settings: Settings,
) -> HeldoutResult:
    """Evaluate the run's job on its held-out file and store items, verdicts, summary.

    The result is stored as data with the final status (:func:`stored_report`
    reads it back), and the run is then claimed for posting by the caller.

    Raises:
        EvaluationError: the job or its file is gone, or nothing could be evaluated;
            the run is marked ``failed`` with the message first.
    """
    try:
        job = get_job(engine, run.job_id)
        if job is None or not job.fine_tuned_model:
            raise EvaluationError("The job has no fine-tuned model to evaluate.")
        judge = judge_arm(settings, default_provider=job.provider)
        examples = read_shared_examples(
            SharedStorage.from_settings(settings), run.data_path, limit=settings.eval_max_prompts
        )
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
    report = StoredReport(result=result, judge_model=judge.model if judge else None)
    _finish(engine, run, status="done", summary=summary_dict(result), report=report)
    return result


@dataclass(frozen=True)
class StoredReport:
    """A finished run's result as stored with it, for a front end to render."""

    result: HeldoutResult
    judge_model: str | None


_REPORT = TypeAdapter(StoredReport)


def stored_report(run: HeldoutRun) -> StoredReport | None:
    """The report stored with a finished run; None for a failed run (see ``run.error``)."""
    return _REPORT.validate_json(run.report_json) if run.report_json else None


def _store_items(
    engine: Engine, run: HeldoutRun, result: HeldoutResult, *, judge_model: str | None
) -> None:
    assert run.id is not None
    rows = [
        (
            _item_row(run.id, item),
            [
                JudgeVerdict(
                    item_id=0,  # set once the item row has its id
                    judge_model=judge_model or "",
                    candidate_position=call.candidate_position,
                    choice=call.choice,
                    raw=call.raw if call.error is None else call.error,
                )
                for call in (item.judge.calls if item.judge else ())
            ],
        )
        for item in result.items
    ]
    replace_items(engine, run_id=run.id, items=rows)


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
    report: StoredReport | None = None,
) -> None:
    """Record the outcome and take on posting it (``posting_since``), in one transaction."""
    row = finish_run(
        engine,
        run_id=run.id or 0,
        status=status,
        error=error,
        summary_json=json.dumps(summary) if summary is not None else None,
        report_json=_REPORT.dump_json(report).decode() if report is not None else None,
    )
    run.status, run.error, run.report_json = row.status, row.error, row.report_json


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


__all__ = [
    "StoredReport",
    "claim_report",
    "claim_run",
    "execute_run",
    "heldout_file",
    "judge_arm",
    "mark_posted",
    "queue_run",
    "queue_runs",
    "release_report",
    "stored_report",
    "summary_dict",
]
