"""Starting a job from Slack: claim it, show it in the dataset's thread, launch it.

The core does the deciding (:mod:`core.training.start`); this module only
turns each outcome into Slack messages. Refusals (budget, bad options, a job
already running) go to the person who asked; provider failures go into the
thread, where the "starting…" message becomes the explanation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

from bot.blocks.jobs import (
    build_job_failed_text,
    build_job_started_blocks,
    build_job_started_text,
    build_job_starting_text,
)
from bot.context import BotContext
from bot.slack_ops import post_wip, update_wip
from core.errors import ProviderError, TrainingError, TunebotError
from core.store.datasets import get_dataset
from core.store.jobs import TrainingJob, fail_job, update_job
from core.training.start import DuplicateRequest, StartRequest, claim_job, launch_job

logger = logging.getLogger(__name__)

Notify = Callable[[str], None]


def start_in_thread(
    ctx: BotContext, request: StartRequest, *, notify: Notify
) -> TrainingJob | None:
    """Start the requested job and report it; None when it did not start.

    Parameters:
        notify: tells the requester privately why nothing started (ephemeral).
    """
    try:
        job = claim_job(ctx.engine, request, settings=ctx.settings, providers=ctx.providers)
    except DuplicateRequest:
        return None  # the first delivery of this request is handling it
    except TunebotError as exc:
        notify(f"Not started: {exc.user_message()}")
        return None
    job_with_message = _post_starting(ctx, job, request, notify=notify)
    if job_with_message is None:
        return None
    return _launch(ctx, job_with_message)


def _post_starting(
    ctx: BotContext, job: TrainingJob, request: StartRequest, *, notify: Notify
) -> TrainingJob | None:
    """Post "starting…" in the dataset's thread; its ts becomes the job's progress message."""
    dataset = get_dataset(ctx.engine, request.dataset_id)
    text = build_job_starting_text(
        provider=job.provider,
        dataset_short_id=dataset.short_id if dataset else "?",
        user_id=request.user_id,
    )
    try:
        wip = post_wip(ctx.client, channel=job.channel_id, thread_ts=job.thread_ts, text=text)
    except SlackApiError as exc:
        # Without its thread message the job could not report progress: don't start it.
        error = str(exc.response.get("error"))
        fail_job(ctx.engine, _row_id(job), error={"code": "slack_" + error, "message": error})
        notify(f"Not started: I could not post in the dataset's thread ({error}).")
        return None
    return update_job(ctx.engine, _row_id(job), progress_ts=wip)


def _launch(ctx: BotContext, job: TrainingJob) -> TrainingJob | None:
    """Upload and create the provider job; the progress message says how it went."""
    wip = job.progress_ts or ""
    try:
        job = launch_job(ctx.engine, job, settings=ctx.settings, providers=ctx.providers)
    except (ProviderError, TrainingError) as exc:
        message = exc.user_message()
    except Exception:
        logger.exception("starting job %s failed", job.short_id)
        fail_job(ctx.engine, _row_id(job), error={"code": "internal", "message": "internal error"})
        message = "Something went wrong on our side; the error is logged for the admins."
    else:
        update_wip(
            ctx.client,
            channel=job.channel_id,
            ts=wip,
            text=build_job_started_text(job),
            blocks=build_job_started_blocks(job),
        )
        return job
    failed = build_job_failed_text(provider=job.provider, message=message)
    update_wip(ctx.client, channel=job.channel_id, ts=wip, text=failed)
    return None


def _row_id(job: TrainingJob) -> int:
    if job.id is None:
        raise RuntimeError("a claimed job always has a row id")
    return job.id
