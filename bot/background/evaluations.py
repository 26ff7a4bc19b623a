"""Scheduled evaluation work: held-out evaluations of finished jobs, abandoned A/B prompts.

:func:`run_pending_heldout` queues a run for every newly succeeded job that has
held-out data, then evaluates claimed runs and posts each report to its job's
thread, exactly once (:mod:`bot.flows.heldout` renders and posts through
the two-phase :class:`bot.background.poster.ThreadPoster`).
:func:`start_evaluation_scheduler` runs it (and the resumption of A/B prompts
a dead process left half-answered) on its own APScheduler, so a long
evaluation never delays progress polling. All state is in the database, so a
restart resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.context import BotContext
from bot.flows.ab import resume_stale_prompts
from bot.flows.heldout import post_claimed
from core.config import Settings
from core.errors import EvaluationError
from core.evaluation.arms import ChatProvider
from core.evaluation.runs import claim_report, claim_run, execute_run, queue_runs
from core.storage import SharedStorage
from core.store.jobs import get_job

logger = logging.getLogger(__name__)


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
        posted += post_claimed(engine, client, left)
    queue_runs(engine, storage=SharedStorage.from_settings(settings))
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
            )
        except EvaluationError as exc:
            logger.warning("held-out evaluation of %s failed: %s", job.short_id, exc)
        # Finished (done or failed) and claimed for posting by this process.
        posted += post_claimed(engine, client, run)
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
