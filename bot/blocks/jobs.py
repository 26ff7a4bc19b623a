"""Messages about training jobs: started, failed to start, status and lists."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from bot.blocks.limits import MAX_SECTION_TEXT, truncate
from bot.blocks.mrkdwn import escape
from core.store.datasets import Dataset
from core.store.jobs import TrainingJob

PROVIDER_TITLES = {"worker": "the worker", "openai": "OpenAI", "azure": "Azure OpenAI"}


def provider_title(name: str) -> str:
    return PROVIDER_TITLES.get(name) or escape(name)


def build_job_starting_text(*, provider: str, dataset_short_id: str, user_id: str) -> str:
    return (
        f"⏳ <@{user_id}> is starting a fine-tuning job on {provider_title(provider)} "
        f"for dataset `{dataset_short_id}`: uploading the file…"
    )


def _options_line(job: TrainingJob) -> str:
    options = json.loads(job.options_json or "{}")
    epochs = options.get("n_epochs") or "auto"
    parts = [f"base model `{escape(job.base_model)}`", f"epochs {escape(str(epochs))}"]
    if options.get("method") == "dpo":
        beta = options.get("beta") or "auto"
        parts.insert(0, f"preference training (DPO, beta {escape(str(beta))})")
    if options.get("suffix"):
        parts.append(f"suffix `{escape(str(options['suffix']))}`")
    if options.get("validation_split"):
        parts.append(f"validation {options['validation_split']:.0%}")
    if options.get("lora_r"):
        parts.append(f"LoRA rank {options['lora_r']}")
    if options.get("load_in_4bit") is not None:
        parts.append("4-bit " + ("on" if options["load_in_4bit"] else "off"))
    return ", ".join(parts)


def build_job_started_text(job: TrainingJob) -> str:
    return (
        f"🚀 Fine-tuning job `{job.short_id}` started on {provider_title(job.provider)} "
        f"(provider id `{escape(job.provider_job_id or '')}`, status {escape(job.status)})."
    )


def build_job_started_blocks(job: TrainingJob) -> list[dict[str, Any]]:
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
    return f"❌ Could not start the job on {provider_title(provider)}. {message}"


def build_job_status_text(job: TrainingJob) -> str:
    lines = [
        f"*Job `{job.short_id}`* on {provider_title(job.provider)} — *{escape(job.status)}*",
        f"Provider id: `{escape(job.provider_job_id or 'not created')}`; {_options_line(job)}",
        f"Started by <@{job.started_by}> at {job.created_at:%Y-%m-%d %H:%M} UTC",
    ]
    if job.fine_tuned_model:
        lines.append(f"Fine-tuned model: `{escape(job.fine_tuned_model)}`")
    if job.error_json:
        error = json.loads(job.error_json)
        lines.append(f"Error: {escape(str(error.get('message') or error))}")
    return truncate("\n".join(lines), MAX_SECTION_TEXT)


def build_list_text(*, datasets: Sequence[Dataset], jobs: Sequence[TrainingJob]) -> str:
    """``/finetune list``: recent datasets and jobs of a channel."""
    lines = ["*Recent datasets*"]
    lines += [
        f"• `{d.short_id}` {escape(d.file_name)} — {escape(d.verdict)}, {d.examples:,} examples "
        f"({d.created_at:%Y-%m-%d})"
        for d in datasets
    ] or ["• none yet: drop a dataset file in this channel"]
    lines.append("*Recent jobs*")
    lines += [
        f"• `{j.short_id}` {provider_title(j.provider)} {escape(j.base_model)} — {escape(j.status)}"
        + (f" → `{escape(j.fine_tuned_model)}`" if j.fine_tuned_model else "")
        for j in jobs
    ] or ["• none yet"]
    return truncate("\n".join(lines), MAX_SECTION_TEXT)
