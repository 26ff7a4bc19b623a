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
    dataset = get_dataset(ctx.engine, request.dataset_id)
    short = dataset.short_id if dataset else "?"
    text = build_job_starting_text(
        provider=job.provider, dataset_short_id=short, user_id=request.user_id
    )
    try:
        wip = post_wip(ctx.client, channel=job.channel_id, thread_ts=job.thread_ts, text=text)
    except SlackApiError as exc:
        # Without its thread message the job could not report progress: don't start it.
        error = str(exc.response.get("error"))
        if job.id is not None:
            fail_job(ctx.engine, job.id, error={"code": "slack_" + error, "message": error})
        notify(f"Not started: I could not post in the dataset's thread ({error}).")
        return None
    if job.id is not None:
        job = update_job(ctx.engine, job.id, progress_ts=wip)
    try:
        job = launch_job(ctx.engine, job, settings=ctx.settings, providers=ctx.providers)
    except (ProviderError, TrainingError) as exc:
        update_wip(
            ctx.client,
            channel=job.channel_id,
            ts=wip,
            text=build_job_failed_text(provider=job.provider, message=exc.user_message()),
        )
        return None
    except Exception:
        logger.exception("starting job %s failed", job.short_id)
        if job.id is not None:
            fail_job(ctx.engine, job.id, error={"code": "internal", "message": "internal error"})
        update_wip(
            ctx.client,
            channel=job.channel_id,
            ts=wip,
            text=build_job_failed_text(
                provider=job.provider,
                message="Something went wrong on our side; the error is logged for the admins.",
            ),
        )
        return None
    update_wip(
        ctx.client,
        channel=job.channel_id,
        ts=wip,
        text=build_job_started_text(job),
        blocks=build_job_started_blocks(job),
    )
    return job
