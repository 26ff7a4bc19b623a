"""Scheduled evaluation work: held-out evaluations of finished jobs, abandoned A/B prompts.

:func:`run_pending_heldout` queues a run for every newly succeeded job that has
held-out data, then evaluates claimed runs and posts each report to its job's
thread, exactly once: the report is stored with the run's final status and
posted through the progress scheduler's two-phase reply helper.
:func:`start_evaluation_scheduler` runs it (and the resumption of A/B prompts
a dead process left half-answered) on its own APScheduler, so a long
evaluation never delays progress polling. All state is in the database, so a
restart resumes.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot.ab_sessions import resume_stale_prompts
from bot.blocks.heldout import build_heldout_failure, build_heldout_report
from bot.blocks.limits import MAX_MESSAGE_TEXT, truncate
from bot.context import BotContext
from bot.scheduler import ReplyThread, ThreadPoster
from core.config import Settings
from core.errors import EvaluationError
from core.evaluation.arms import ChatProvider
from core.evaluation.heldout import HeldoutResult
from core.evaluation.runs import (
    claim_report,
    claim_run,
    execute_run,
    judge_arm,
    mark_posted,
    queue_runs,
    release_report,
)
from core.store.engine import session_scope
from core.store.evaluation import HeldoutRun
from core.store.jobs import TrainingJob, get_job
from core.store.progress import get_message

logger = logging.getLogger(__name__)


def items_csv(result: HeldoutResult) -> str:
    """Every held-out prompt with both answers, scores and the judge's outcome."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["index", "prompt", "reference", "fine_tuned", "base", "fine_tuned_f1", "base_f1", "judge"]
    )
    for item in result.items:
        writer.writerow(
            [
                item.index,
                item.example.last_user_text,
                item.example.reference,
                item.candidate.text if item.candidate.ok else f"ERROR: {item.candidate.error}",
                item.baseline.text if item.baseline.ok else f"ERROR: {item.baseline.error}",
                item.f1(item.candidate),
                item.f1(item.baseline),
                item.judge.outcome if item.judge else "",
            ]
        )
    return buffer.getvalue()


REPORT_KEY = "heldout"
CSV_KEY = "heldout:csv"


def report_renderer(
    settings: Settings, job: TrainingJob
) -> Callable[[HeldoutResult], dict[str, Any]]:
    """What :func:`execute_run` stores with a finished run: the Slack message and the CSV."""

    def render(result: HeldoutResult) -> dict[str, Any]:
        judge = judge_arm(settings, default_provider=job.provider)
        message = build_heldout_report(
            result, job_short_id=job.short_id, judge_model=judge.model if judge else None
        )
        return {"message": message, "csv": items_csv(result)}

    return render


def _upload(client: WebClient, thread: ReplyThread, name: str, content: str) -> str | None:
    response = client.files_upload_v2(
        channel=thread.channel_id,
        thread_ts=thread.thread_ts,
        filename=name,
        title=f"Held-out evaluation of {thread.short_id}: every prompt",
        content=content.encode("utf-8"),
    )
    return str(response["files"][0]["id"]) if response.get("files") else None


def post_report(engine: Engine, client: WebClient, run: HeldoutRun, job: TrainingJob) -> str:
    """Post a finished run's report (and its CSV) to the job's thread exactly once.

    The same two phases as the progress scheduler's milestones (``job_message``
    rows keyed ``heldout`` and ``heldout:csv``): a restart after a crash at any
    point finds in the thread what was already posted instead of posting it again.
    """
    assert job.id is not None
    poster = ThreadPoster(engine=engine, client=client)
    thread = ReplyThread(job.id, job.short_id, job.channel_id, job.thread_ts)
    report = json.loads(run.report_json) if run.report_json else None
    if report is None:
        failure = build_heldout_failure(job.short_id, run.error or "unknown error")
        message: dict[str, Any] = {"text": truncate(failure, MAX_MESSAGE_TEXT)}
    else:
        message = report["message"]
    with session_scope(engine) as db:
        records = {key: get_message(db, job_id=job.id, key=key) for key in (REPORT_KEY, CSV_KEY)}
    ts = poster.once(
        thread,
        REPORT_KEY,
        partial(poster.post, thread, REPORT_KEY, message),
        record=records[REPORT_KEY],
    )
    if report is not None:
        name = f"heldout-{job.short_id}.csv"
        poster.once(
            thread,
            CSV_KEY,
            partial(_upload, client, thread, name, report["csv"]),
            record=records[CSV_KEY],
            file_name=name,
        )
    assert ts is not None  # chat.postMessage always answers with a ts
    return ts


def _post_claimed(engine: Engine, client: WebClient, run: HeldoutRun) -> bool:
    """Post a run claimed for posting; on a Slack error give the claim back for the next tick."""
    assert run.id is not None
    job = get_job(engine, run.job_id)
    if job is None:
        return False
    try:
        ts = post_report(engine, client, run, job)
    except SlackApiError as exc:
        logger.warning(
            "held-out report of %s not posted yet: %s", job.short_id, exc.response.get("error")
        )
        release_report(engine, run.id)
        return False
    mark_posted(engine, run.id, ts)
    return True


def run_pending_heldout(
    *,
    settings: Settings,
    engine: Engine,
    providers: Mapping[str, ChatProvider],
    client: WebClient,
    max_runs: int = 1,
    report_lease: timedelta = timedelta(minutes=5),
) -> int:
    """Post reports a dead process left unposted, queue new runs, evaluate and post up to
    ``max_runs``; returns how many reports were posted.

    Parameters:
        settings: judge model, prompt limit and concurrency.
        engine: the database.
        providers: provider clients by name.
        client: bot-token Web API client (posts to the job's thread).
        max_runs: evaluations per call, so one call stays bounded in time.
        report_lease: how long a process may hold a report it is posting before
            another takes it over as left by a dead process.
    """
    posted = 0
    tried: set[int] = set()
    while (left := claim_report(engine, lease=report_lease, exclude=tried)) is not None:
        tried.add(left.id or 0)
        posted += _post_claimed(engine, client, left)
    queue_runs(engine, data_dir=settings.data_dir)
    for _ in range(max_runs):
        run = claim_run(engine)
        if run is None or run.id is None:
            break
        job = get_job(engine, run.job_id)
        if job is None:
            continue
        try:
            execute_run(
                engine,
                run,
                providers=providers,
                settings=settings,
                render=report_renderer(settings, job),
            )
        except EvaluationError as exc:
            logger.warning("held-out evaluation of %s failed: %s", job.short_id, exc)
        # Finished (done or failed) and claimed for posting by this process.
        posted += _post_claimed(engine, client, run)
    return posted


def evaluation_tick(ctx: BotContext) -> None:
    """One scheduler run: resume abandoned A/B prompts, then held-out evaluations. Never raises."""
    try:
        resume_stale_prompts(ctx)
    except Exception:
        logger.exception("resuming A/B prompts failed")
    try:
        run_pending_heldout(
            settings=ctx.settings, engine=ctx.engine, providers=ctx.providers, client=ctx.client
        )
    except Exception:
        logger.exception("held-out evaluation tick failed")


def start_evaluation_scheduler(
    ctx: BotContext, *, seconds: float | None = None
) -> BackgroundScheduler:
    """Run :func:`evaluation_tick` every ``seconds`` (default: the progress poll interval).

    Its own scheduler (not a job in the progress scheduler) so an evaluation of
    many prompts never delays progress polling; ``max_instances=1`` keeps ticks
    from overlapping. Call ``shutdown()`` on the result when the bot stops.
    """
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        evaluation_tick,
        "interval",
        args=[ctx],
        seconds=seconds or ctx.settings.poll_seconds,
        id="evaluation",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    return scheduler
