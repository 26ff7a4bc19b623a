"""Messages about training jobs: started, failed to start, status and lists."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from bot.blocks.limits import MAX_SECTION_TEXT, truncate
from bot.blocks.mrkdwn import escape
from bot.blocks.text import plural, provider_name


def build_job_starting_text(*, provider: str, dataset_short_id: str, user_id: str) -> str:
    return (
        f"⏳ <@{user_id}> is starting a fine-tuning job on {provider_name(provider)} "
        f"for dataset `{dataset_short_id}`: uploading the file…"
    )


@dataclass(frozen=True)
class JobChoices:
    """What the person chose when starting a job (None: the provider picks)."""

    n_epochs: int | None = None
    suffix: str | None = None
    validation_split: float | None = None
    lora_r: int | None = None
    load_in_4bit: bool | None = None
    method: str | None = None  # "dpo" for preference training; None: supervised
    beta: float | None = None  # DPO's beta; None: the trainer's default

    @classmethod
    def from_json(cls, text: str | None) -> JobChoices:
        """From a job's stored options; unknown or malformed values are left out."""
        try:
            raw = json.loads(text or "{}")
        except ValueError:
            raw = {}
        raw = raw if isinstance(raw, dict) else {}

        def typed(name: str, kind: type | tuple[type, ...]) -> Any:
            value = raw.get(name)
            return value if isinstance(value, kind) and not isinstance(value, bool) else None

        bit = raw.get("load_in_4bit")
        return cls(
            n_epochs=typed("n_epochs", int),
            suffix=typed("suffix", str),
            validation_split=typed("validation_split", (int, float)),
            lora_r=typed("lora_r", int),
            load_in_4bit=bit if isinstance(bit, bool) else None,
            method=typed("method", str),
            beta=typed("beta", (int, float)),
        )


@dataclass(frozen=True)
class JobCard:
    """A job as its messages show it (built from the stored job by :mod:`bot.flows.cards`)."""

    short_id: str
    provider: str
    status: str
    base_model: str
    started_by: str
    created_at: datetime
    choices: JobChoices = field(default_factory=JobChoices)
    provider_job_id: str | None = None
    estimated_cost_usd: float | None = None
    fine_tuned_model: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class DatasetCard:
    """A dataset as ``/finetune list`` shows it."""

    short_id: str
    file_name: str
    verdict: str
    examples: int
    created_at: datetime


def choices_line(base_model: str, choices: JobChoices) -> str:
    """``base model `x`, 3 epochs, validation 10%`` as the job's messages show it."""
    epochs = plural(choices.n_epochs, "epoch") if choices.n_epochs else "epochs auto"
    parts = [f"base model `{escape(base_model)}`", epochs]
    if choices.method == "dpo":
        beta = f"{choices.beta:g}" if choices.beta else "auto"
        parts.insert(0, f"preference training (DPO, beta {beta})")
    if choices.suffix:
        parts.append(f"suffix `{escape(choices.suffix)}`")
    parts.append(
        f"validation {choices.validation_split:.0%}"
        if choices.validation_split
        else "no validation split"
    )
    if choices.lora_r:
        parts.append(f"LoRA rank {choices.lora_r}")
    if choices.load_in_4bit is not None:
        parts.append("4-bit " + ("on" if choices.load_in_4bit else "off"))
    return ", ".join(parts)


def _options_line(job: JobCard) -> str:
    return choices_line(job.base_model, job.choices)


def build_job_started_text(job: JobCard) -> str:
    return (
        f"🚀 Fine-tuning job `{job.short_id}` started on {provider_name(job.provider)} "
        f"(provider id `{escape(job.provider_job_id or '')}`, status {escape(job.status)})."
    )


def build_job_started_blocks(job: JobCard) -> list[dict[str, Any]]:
    """The "job started" message; the scheduler edits it with progress later."""
    cost = ""
    if job.estimated_cost_usd:
        cost = f" Estimated cost ${job.estimated_cost_usd:,.2f}."
    blocks = [
        SectionBlock(
            text=MarkdownTextObject(text=truncate(build_job_started_text(job), MAX_SECTION_TEXT))
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=truncate(
                        f"Started by <@{job.started_by}>: {_options_line(job)}.{cost} "
                        "Progress is posted in this thread; "
                        f"`/finetune cancel {job.short_id}` stops it.",
                        MAX_SECTION_TEXT,
                    )
                )
            ]
        ),
    ]
    return [block.to_dict() for block in blocks]


def build_job_failed_text(*, provider: str, message: str) -> str:
    """A start failure, with what to do; ``message`` is :func:`bot.blocks.text.error_text`'s
    (already escaped)."""
    return f"❌ Could not start the job on {provider_name(provider)}. {message}"


def build_job_status_text(job: JobCard) -> str:
    lines = [
        f"*Job `{job.short_id}`* on {provider_name(job.provider)} — *{escape(job.status)}*",
        f"Provider id: `{escape(job.provider_job_id or 'not created')}`; {_options_line(job)}",
        f"Started by <@{job.started_by}> at {job.created_at:%Y-%m-%d %H:%M} UTC",
    ]
    if job.fine_tuned_model:
        lines.append(f"Fine-tuned model: `{escape(job.fine_tuned_model)}`")
    if job.error:
        lines.append(f"Error: {escape(job.error)}")
    return truncate("\n".join(lines), MAX_SECTION_TEXT)


def build_list_text(*, datasets: Sequence[DatasetCard], jobs: Sequence[JobCard]) -> str:
    """``/finetune list``: recent datasets and jobs of a channel."""
    lines = ["*Recent datasets*"]
    lines += [
        f"• `{d.short_id}` {escape(d.file_name)} — {escape(d.verdict)}, "
        f"{plural(d.examples, 'example')} "
        f"({d.created_at:%Y-%m-%d})"
        for d in datasets
    ] or ["• none yet: drop a dataset file in this channel"]
    lines.append("*Recent jobs*")
    lines += [
        f"• `{j.short_id}` {provider_name(j.provider)} {escape(j.base_model)} — {escape(j.status)}"
        + (f" → `{escape(j.fine_tuned_model)}`" if j.fine_tuned_model else "")
        for j in jobs
    ] or ["• none yet"]
    return truncate("\n".join(lines), MAX_SECTION_TEXT)
