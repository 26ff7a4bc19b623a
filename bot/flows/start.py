"""Starting (and cancelling) a job from Slack: the modal, the claim, the thread, the launch.

The core does the deciding (:mod:`core.training.start`); this module only
turns each outcome into Slack messages. Refusals (budget, bad options, a job
already running) go to the person who asked; provider failures go into the
thread, where the "starting…" message becomes the explanation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

from bot.blocks.jobs import (
    build_job_failed_text,
    build_job_started_blocks,
    build_job_started_text,
    build_job_starting_text,
)
from bot.blocks.start_modal import Spend, build_start_modal
from bot.blocks.text import INTERNAL_ERROR, error_text, provider_name
from bot.context import BotContext
from bot.flows.cards import job_card
from bot.slack_ops import post_wip, tell_user, update_wip
from core.errors import ProviderError, TrainingError, TunebotError
from core.store.datasets import Dataset, find_dataset, get_dataset
from core.store.jobs import TrainingJob, fail_job, find_job, month_spend_usd, update_job
from core.training.cancel import cancel_job
from core.training.start import (
    BudgetExceeded,
    DuplicateRequest,
    JobOptions,
    StartRequest,
    check_budget,
    claim_job,
    estimate_job_cost,
    launch_job,
    method_for_format,
)
from core.validation.report import Report

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
        notify(f"Not started: {error_text(exc)}")
        return None
    return start_claimed(ctx, job, request, notify=notify)


def start_claimed(
    ctx: BotContext, job: TrainingJob, request: StartRequest, *, notify: Notify
) -> TrainingJob | None:
    """Post "starting…" in the thread, then launch a job :func:`claim_job` recorded."""
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
        message = error_text(exc)
    except Exception:
        logger.exception("starting job %s failed", job.short_id)
        fail_job(ctx.engine, _row_id(job), error={"code": "internal", "message": "internal error"})
        message = INTERNAL_ERROR
    else:
        update_wip(
            ctx.client,
            channel=job.channel_id,
            ts=wip,
            text=build_job_started_text(job_card(job)),
            blocks=build_job_started_blocks(job_card(job)),
        )
        return job
    failed = build_job_failed_text(provider=job.provider, message=message)
    update_wip(ctx.client, channel=job.channel_id, ts=wip, text=failed)
    return None


def _row_id(job: TrainingJob) -> int:
    if job.id is None:
        raise RuntimeError("a claimed job always has a row id")
    return job.id


def default_model(
    ctx: BotContext, provider: str, dataset: Dataset, models: list[str]
) -> str | None:
    """The model the report was computed for when the provider offers it, else the first."""
    for candidate in (dataset.model, ctx.settings.default_model):
        if candidate in models:
            return candidate
    return models[0] if models else (dataset.model if provider != "worker" else None)


def open_start_modal(
    ctx: BotContext,
    *,
    provider: str,
    dataset_ref: str,
    user: str,
    channel: str,
    thread_ts: str | None,
    trigger_id: str,
) -> None:
    """Check the person, then open the start modal for the dataset (runs after the ack)."""
    if not ctx.authorizer.is_allowed(user):
        tell_user(
            ctx.client,
            channel=channel,
            user=user,
            text=ctx.authorizer.refusal(),
            thread_ts=thread_ts,
        )
        return
    dataset = find_dataset(ctx.engine, ref=dataset_ref, team_id=ctx.team)
    if dataset is None or provider not in ctx.providers:
        tell_user(
            ctx.client,
            channel=channel,
            user=user,
            text="That dataset or provider is no longer available; drop the file again.",
            thread_ts=thread_ts,
        )
        return
    try:
        models = ctx.model_lists.get(ctx.providers[provider])
    except ProviderError as exc:
        logger.warning("listing %s models failed: %s", provider, exc.message)
        models = []
    method = method_for_format(dataset.format)
    metadata = json.dumps({"dataset": dataset.short_id, "provider": provider, "method": method})
    model = default_model(ctx, provider, dataset, models)
    view = build_start_modal(
        provider=provider,
        dataset_short_id=dataset.short_id,
        file_name=dataset.file_name,
        models=models,
        default_model=model,
        private_metadata=metadata,
        spend=spend_for(
            ctx, dataset, JobOptions(provider=provider, base_model=model or "", method=method)
        ),
        method=method,
    )
    try:
        ctx.client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        # Most often the 3-second trigger expired: say how to start without the modal.
        logger.warning("start modal not opened: %s", exc.response.get("error"))
        tell_user(
            ctx.client,
            channel=channel,
            user=user,
            text=f":warning: The start form could not open in time. Press the button again, "
            f"or run `/finetune start {dataset.short_id} --provider {provider}`.",
            thread_ts=thread_ts,
        )


def spend_for(ctx: BotContext, dataset: Dataset, options: JobOptions) -> Spend:
    """The job's estimated cost and this month's budget, for the modal."""
    try:
        report = Report.model_validate_json(dataset.report_json)
    except ValueError:
        return Spend(budget_usd=ctx.settings.monthly_budget_usd)
    cost = estimate_job_cost(report, options, settings=ctx.settings) if options.base_model else None
    budget = ctx.settings.monthly_budget_usd
    spent = month_spend_usd(ctx.engine) if budget is not None else 0.0
    return Spend(
        estimated_cost_usd=cost,
        model=options.base_model or None,
        budget_usd=budget,
        spent_usd=spent,
    )


def budget_refusal(ctx: BotContext, dataset_ref: str, options: JobOptions) -> str | None:
    """Why the modal's job would go over the monthly budget, or None (checked in the ack,
    so the form stays open with the reason under the model field)."""
    if ctx.settings.monthly_budget_usd is None:
        return None
    dataset = find_dataset(ctx.engine, ref=dataset_ref, team_id=ctx.team)
    if dataset is None:
        return None
    report = Report.model_validate_json(dataset.report_json)
    cost = estimate_job_cost(report, options, settings=ctx.settings)
    try:
        check_budget(ctx.engine, settings=ctx.settings, cost=cost)
    except BudgetExceeded as exc:
        return error_text(exc)
    return None


def start_from_submission(
    ctx: BotContext,
    *,
    dataset_ref: str,
    user: str,
    view_id: str,
    team_id: str | None,
    options: JobOptions,
) -> None:
    """Start the job the modal asked for (runs after the ack)."""
    dataset = find_dataset(ctx.engine, ref=dataset_ref, team_id=ctx.team)
    if dataset is None or dataset.id is None:
        return
    if not ctx.authorizer.is_allowed(user):
        tell_user(ctx.client, channel=dataset.channel_id, user=user, text=ctx.authorizer.refusal())
        return
    request = StartRequest(
        request_id=f"view:{view_id}",
        dataset_id=dataset.id,
        options=options,
        user_id=user,
        team_id=team_id,
    )

    def notify(text: str) -> None:
        tell_user(
            ctx.client,
            channel=dataset.channel_id,
            user=user,
            text=text,
            thread_ts=dataset.thread_ts,
        )

    start_in_thread(ctx, request, notify=notify)


def cancel_from_button(
    ctx: BotContext, *, short_id: str, user: str, channel: str, thread_ts: str | None
) -> None:
    """Check who pressed Cancel, cancel at the provider, tell them the outcome."""

    def tell(text: str) -> None:
        tell_user(ctx.client, channel=channel, user=user, text=text, thread_ts=thread_ts)

    if not ctx.authorizer.is_allowed(user):
        tell(ctx.authorizer.refusal("cancel"))
        return
    job = find_job(ctx.engine, ref=short_id, team_id=ctx.team) if short_id else None
    if job is None:
        tell(f":warning: There is no job `{short_id}` any more.")
        return
    try:
        job = cancel_job(ctx.engine, job, providers=ctx.providers, user_id=user)
    except TunebotError as error:
        tell(f":warning: {error_text(error)}")
        return
    tell(
        f"Cancelling job `{job.short_id}` on {provider_name(job.provider)}; the thread will say "
        "when the provider has stopped it."
    )
