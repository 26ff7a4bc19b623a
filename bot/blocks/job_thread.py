"""Block Kit for a job's thread: the progress message, milestones and the result.

Pure functions from core values to Block Kit dicts (built with slack_sdk's
block models); the scheduler decides when to post or edit them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.ids import AB_START_ACTION_ID, CANCEL_ACTION_ID, START_ACTION_PREFIX
from bot.blocks.jobs import JobChoices, choices_line
from bot.blocks.limits import MAX_SECTION_TEXT, truncate
from bot.blocks.mrkdwn import escape
from bot.blocks.text import hint_text, provider_name
from core.providers import Checkpoint
from core.training.milestones import Milestone
from core.training.progress import ProgressState

BAR_WIDTH = 20
CHECKPOINTS_SHOWN = 10

_STATUS = {
    "pending": (":hourglass_flowing_sand:", "Starting"),
    "validating_files": (":mag:", "Validating files"),
    "queued": (":hourglass_flowing_sand:", "Queued"),
    "running": (":gear:", "Training"),
    "succeeded": (":white_check_mark:", "Succeeded"),
    "failed": (":x:", "Failed"),
    "cancelled": (":no_entry_sign:", "Cancelled"),
}


@dataclass(frozen=True)
class JobLabel:
    """Who and what a job is, as people recognise it in the thread."""

    short_id: str
    provider: str
    base_model: str
    started_by: str
    uploader_id: str | None = None
    cancelled_by: str | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    estimated_cost_usd: float | None = None
    choices: JobChoices = field(default_factory=JobChoices)
    dataset_short_id: str | None = None
    price_per_1m: float | None = None  # training USD per 1M tokens of the base model, if known
    offer_retry_on: tuple[str, ...] = ()  # providers a failure post offers to retry on


@dataclass(frozen=True)
class ResultFacts:
    """What the success post reports beyond the label: losses, time, hyperparameters."""

    train_loss: float | None = None
    valid_loss: float | None = None
    duration: timedelta | None = None
    hyperparameters: tuple[tuple[str, str], ...] = ()
    reported_cost_usd: float | None = None


def progress_bar(fraction: float | None, *, width: int = BAR_WIDTH) -> str:
    """``▓▓▓▓░░░░ 50%``; an empty bar with "–" when the total is unknown."""
    if fraction is None:
        return "░" * width + " –"
    done = round(max(0.0, min(1.0, fraction)) * width)
    return "▓" * done + "░" * (width - done) + f" {fraction:.0%}"


def duration(value: timedelta | None) -> str:
    """``1 h 05 min`` / ``4 min`` / ``40 s``; ``–`` when unknown."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _loss(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _mentions(label: JobLabel) -> str:
    people = dict.fromkeys(u for u in (label.uploader_id, label.started_by) if u)
    return " ".join(f"<@{u}>" for u in people)


def _status(status: str) -> tuple[str, str]:
    return _STATUS.get(status, (":grey_question:", status))


def _steps_line(state: ProgressState) -> str:
    parts = [progress_bar(state.fraction)]
    if state.step is not None:
        parts.append(f"step {state.step}/{state.total_steps or '?'}")
    if state.epoch is not None:
        parts.append(f"epoch {state.epoch:.1f}/{state.n_epochs or '?'}")
    return "`" + parts[0] + "`  " + " · ".join(parts[1:])


def _options_context(label: JobLabel) -> str:
    """Who started the job and with what: kept on every edit, so two jobs on one
    dataset never look alike."""
    cost = ""
    if label.provider == "worker":
        cost = " · no API cost"
    elif label.estimated_cost_usd is not None:
        cost = f" · estimated cost ${label.estimated_cost_usd:,.2f}"
    return (
        f"Started by <@{label.started_by}> · {choices_line(label.base_model, label.choices)}{cost}"
    )


def _epochs_line(epochs: Sequence[Milestone]) -> str:
    return "\n".join(
        f":checkered_flag: Epoch {m.epoch}/{m.n_epochs or '?'}: train loss {_loss(m.train_loss)}, "
        f"valid loss {_loss(m.valid_loss)}"
        for m in epochs
    )


def build_progress_message(
    state: ProgressState, label: JobLabel, *, epochs: Sequence[Milestone] = ()
) -> dict[str, Any]:
    """The one message per job that the scheduler edits in place.

    Returns ``{"text": ..., "blocks": [...]}`` for ``chat.update``. It keeps the
    job's options on every edit, folds finished epochs in (edits notify nobody;
    the outcome is a reply of its own), and shows Cancel only while the job can
    still be cancelled.
    """
    emoji, word = _status(state.status)
    head = f"{emoji} *{word}* · job `{label.short_id}` on *{provider_name(label.provider)}*"
    if state.queue_position is not None:
        head += f" · position {state.queue_position} in the queue"
    fields = [
        MarkdownTextObject(text=f"*Train loss*\n{_loss(state.train_loss)}"),
        MarkdownTextObject(text=f"*Valid loss*\n{_loss(state.valid_loss)}"),
        MarkdownTextObject(
            text="*Tokens/s*\n"
            + ("–" if state.tokens_per_second is None else f"{state.tokens_per_second:,.0f}")
        ),
        MarkdownTextObject(text=f"*Elapsed*\n{duration(state.elapsed)}"),
        MarkdownTextObject(text=f"*Time left*\n{duration(state.eta)}"),
    ]
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=head)),
        ContextBlock(elements=[MarkdownTextObject(text=truncate(_options_context(label), 2000))]),
        SectionBlock(text=MarkdownTextObject(text=_steps_line(state)), fields=fields),
    ]
    if epochs:
        text = truncate(_epochs_line(epochs), 2000)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=text)]))
    if state.status not in ("succeeded", "failed", "cancelled"):
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Cancel job",
                        action_id=CANCEL_ACTION_ID,
                        value=label.short_id,
                        style="danger",
                        confirm=ConfirmObject(
                            title="Cancel this job?",
                            text=f"Job {label.short_id} stops at the provider.",
                            confirm="Cancel job",
                            deny="Keep training",
                        ),
                    )
                ]
            )
        )
    text = (
        f"{word}: job {label.short_id} ({provider_name(label.provider)}, "
        f"{escape(label.base_model)}), started by <@{label.started_by}>"
    )
    return {"text": text, "blocks": [block.to_dict() for block in blocks]}


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def milestone_text(
    milestone: Milestone,
    label: JobLabel,
    *,
    provider_failure: str | None = None,
    with_step: bool = True,
) -> str:
    """The words of one thread reply (the result has blocks: :func:`build_result_message`)."""
    job = f"`{label.short_id}`"
    if milestone.kind == "started":
        extra = []
        if milestone.queue_wait is not None:
            extra.append(f"after {duration(milestone.queue_wait)} in the queue")
        if milestone.queue_position is not None:
            extra.append(f"queue position was {milestone.queue_position}")
        tail = f" ({', '.join(extra)})" if extra else ""
        return f":rocket: Training started for job {job} on {provider_name(label.provider)}{tail}."
    if milestone.kind == "epoch":
        return (
            f":checkered_flag: Epoch {milestone.epoch}/{milestone.n_epochs or '?'} finished "
            f"for job {job}: train loss {_loss(milestone.train_loss)}, "
            f"valid loss {_loss(milestone.valid_loss)}."
        )
    if milestone.kind == "silence":
        since = _utc(milestone.silent_since) if milestone.silent_since else "a while"
        why = f" Last error: {escape(provider_failure)}" if provider_failure else ""
        return (
            f":warning: {provider_name(label.provider)} has not answered about job {job} "
            f"since {since}. "
            f"tunebot keeps retrying with backoff; the status above is the last one "
            f"known.{why}"
        )
    if milestone.kind == "failed":
        # Provider errors can be long (stack traces from a worker): keep the reply readable.
        reason = escape(truncate(milestone.error_message or "the provider gave no reason", 1500))
        code = f" (`{escape(milestone.error_code)}`)" if milestone.error_code else ""
        advice = escape(
            hint_text(milestone.hint)
            if with_step
            else (milestone.hint.text if milestone.hint else "")
        )
        return f":x: Job {job} failed: {reason}{code}\n*What to do:* {advice}\n{_mentions(label)}"
    if milestone.kind == "cancelled":
        who = f"by <@{label.cancelled_by}>" if label.cancelled_by else "at the provider"
        return f":no_entry_sign: Job {job} was cancelled {who}.\n{_mentions(label)}"
    raise ValueError(f"no text for milestone kind {milestone.kind!r}")


def build_failure_message(milestone: Milestone, label: JobLabel) -> dict[str, Any]:
    """The failure reply: what happened, advice for its error class, Retry buttons.

    **Retry** opens the start modal for the same provider; **Retry on worker**
    for the worker. Both need the dataset; a provider the organisation is not
    allowed to use is not offered again (``label.offer_retry_on``).
    """
    buttons: list[ButtonElement] = []
    if label.dataset_short_id:
        for provider in label.offer_retry_on:
            buttons.append(
                ButtonElement(
                    text="Retry" if provider == label.provider else f"Retry on {provider}",
                    action_id=f"{START_ACTION_PREFIX}{provider}",
                    value=label.dataset_short_id,
                    style="primary" if not buttons else None,
                )
            )
    # With Retry buttons the advice needs no command to type.
    text = milestone_text(milestone, label, with_step=not buttons)
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000)))]
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    return {"text": truncate(text, 3000), "blocks": [block.to_dict() for block in blocks]}


def _cost(label: JobLabel, reported: float | None) -> str:
    if reported is not None:
        return f"${reported:,.2f}"
    if label.trained_tokens is not None and label.price_per_1m is not None:
        cost = label.trained_tokens / 1e6 * label.price_per_1m
        return f"${cost:,.2f} ({label.trained_tokens:,} tokens × ${label.price_per_1m:g} per 1M)"
    if label.provider == "worker":
        return "no API cost (the team's worker)"
    if label.estimated_cost_usd is not None:
        return f"not reported (estimated ${label.estimated_cost_usd:,.2f} before the start)"
    return "not reported by the provider"


def checkpoints_text(checkpoints: Sequence[Checkpoint]) -> str:
    """One line per checkpoint: its model id (servable like the final model), step, losses.

    The latest :data:`CHECKPOINTS_SHOWN` only: a worker job keeps one per epoch.
    """
    lines = ["*Checkpoints*"]
    earlier = len(checkpoints) - CHECKPOINTS_SHOWN
    if earlier > 0:
        lines.append(f"_{earlier} earlier checkpoints are not shown._")
    for point in checkpoints[-CHECKPOINTS_SHOWN:]:
        losses = f"train loss {_loss(point.train_loss)}"
        if point.valid_loss is not None:
            losses = f"valid loss {_loss(point.valid_loss)} · " + losses
        lines.append(f"• step {point.step}: `{escape(point.model)}` ({losses})")
    return truncate("\n".join(lines), MAX_SECTION_TEXT)


def _hyperparameters(label: JobLabel, facts: ResultFacts) -> str:
    if facts.hyperparameters:
        return ", ".join(f"{escape(k)} {escape(v)}" for k, v in facts.hyperparameters)
    return choices_line(label.base_model, label.choices)


def build_result_message(
    label: JobLabel, facts: ResultFacts, *, checkpoints: Sequence[Checkpoint] = ()
) -> dict[str, Any]:
    """The success reply: model id, final losses, duration, hyperparameters, cost,
    checkpoints, the A/B button and the one mention."""
    model = escape(label.fine_tuned_model or "(the provider did not name it)")
    tokens = f"{label.trained_tokens:,}" if label.trained_tokens is not None else "not reported"
    blocks: list[Any] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f":tada: *Job `{label.short_id}` succeeded.* Fine-tuned model:\n`{model}`"
            )
        ),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=f"*Final train loss*\n{_loss(facts.train_loss)}"),
                MarkdownTextObject(text=f"*Final valid loss*\n{_loss(facts.valid_loss)}"),
                MarkdownTextObject(text=f"*Duration*\n{duration(facts.duration)}"),
                MarkdownTextObject(text=f"*Trained tokens*\n{tokens}"),
                MarkdownTextObject(
                    text=truncate(f"*Cost*\n{_cost(label, facts.reported_cost_usd)}", 2000)
                ),
            ]
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=truncate(f"Hyperparameters: {_hyperparameters(label, facts)}", 2000)
                )
            ]
        ),
    ]
    if checkpoints:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=checkpoints_text(checkpoints))))
    blocks.append(
        ActionsBlock(
            elements=[
                ButtonElement(
                    text="Start A/B test",
                    action_id=AB_START_ACTION_ID,
                    value=label.short_id,
                    style="primary",
                )
            ]
        )
    )
    mentions = _mentions(label)
    if mentions:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"{mentions} your model is ready: compare it with its base model."
                )
            )
        )
    text = f"Job {label.short_id} succeeded: {model}. {mentions}".strip()
    return {"text": text, "blocks": [block.to_dict() for block in blocks]}


def plot_file_name(short_id: str) -> str:
    """The loss-curve file name; unique per job so a restart can find it in the thread."""
    return f"loss-curve-{short_id}.png"
