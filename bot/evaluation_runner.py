"""Scheduled evaluation work: held-out evaluations of finished jobs, abandoned A/B prompts.

:func:`run_pending_heldout` queues a run for every newly succeeded job that has
held-out data, then evaluates claimed runs and posts each report to its job's
thread. :func:`start_evaluation_scheduler` runs it (and the resumption of A/B
prompts a dead process left half-answered) on its own APScheduler, so a long
evaluation never delays progress polling. All state is in the database, so a
restart resumes.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.ab_sessions import resume_stale_prompts
from bot.blocks.heldout import build_heldout_failure, build_heldout_report
from bot.context import BotContext
from bot.slack_ops import post_in_thread, upload_to_thread
from core.config import Settings
from core.errors import EvaluationError
from core.evaluation.arms import ChatProvider
from core.evaluation.heldout import HeldoutResult
from core.evaluation.runs import claim_run, execute_run, judge_arm, mark_posted, queue_runs
from core.store.evaluation import HeldoutRun
from core.store.jobs import get_job

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


def _post(client: WebClient, run: HeldoutRun, job: Any, settings: Settings, result: Any) -> str:
    if result is None:
        return post_in_thread(
            client,
            channel=job.channel_id,
            thread_ts=job.thread_ts,
            text=build_heldout_failure(job.short_id, run.error or "unknown error"),
        )
    judge = judge_arm(settings, default_provider=job.provider)
    message = build_heldout_report(
        result, job_short_id=job.short_id, judge_model=judge.model if judge else None
    )
    ts = post_in_thread(client, channel=job.channel_id, thread_ts=job.thread_ts, **message)
    upload_to_thread(
        client,
        channel=job.channel_id,
        thread_ts=job.thread_ts,
        filename=f"heldout-{job.short_id}.csv",
        title=f"Held-out evaluation of {job.short_id}: every prompt",
        content=items_csv(result).encode("utf-8"),
    )
    return ts


def run_pending_heldout(
    *,
    settings: Settings,
    engine: Engine,
    providers: Mapping[str, ChatProvider],
    client: WebClient,
    max_runs: int = 1,
) -> int:
    """Queue new runs, then evaluate and post up to ``max_runs``; returns how many ran.

    Parameters:
        settings: judge model, prompt limit and concurrency.
        engine: the database.
        providers: provider clients by name.
        client: bot-token Web API client (posts to the job's thread).
        max_runs: runs per call, so one call stays bounded in time.
    """
    queue_runs(engine, data_dir=settings.data_dir)
    done = 0
    for _ in range(max_runs):
        run = claim_run(engine)
        if run is None or run.id is None:
            break
        job = get_job(engine, run.job_id)
        if job is None:
            continue
        try:
            result: HeldoutResult | None = execute_run(
                engine, run, providers=providers, settings=settings
            )
        except EvaluationError as exc:
            logger.warning("held-out evaluation of %s failed: %s", job.short_id, exc)
            run.error = exc.user_message()
            result = None
        ts = _post(client, run, job, settings, result)
        mark_posted(engine, run.id, ts)
        done += 1
    return done


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
