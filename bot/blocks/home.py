"""The App Home tab: the viewer's recent datasets and jobs with their status."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.blocks.text import escape
from core.store.datasets import Dataset
from core.store.jobs import TrainingJob
from core.training.overview import Overview

_VERDICT = {"ready": ":white_check_mark:", "warnings": ":warning:", "not_ready": ":x:"}
_JOB = {
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "cancelled": ":no_entry_sign:",
    "running": ":gear:",
    "queued": ":hourglass_flowing_sand:",
    "validating_files": ":mag:",
    "pending": ":hourglass_flowing_sand:",
}


def _permalink(channel_id: str, ts: str) -> str:
    return f"<slack://channel?id={channel_id}&message={ts}|thread>"


def _dataset_line(dataset: Dataset) -> str:
    icon = _VERDICT.get(dataset.verdict, ":page_facing_up:")
    return (
        f"{icon} `{dataset.short_id}` *{escape(dataset.file_name[:80])}* · {dataset.examples:,} "
        f"examples · {dataset.verdict} · <#{dataset.channel_id}> "
        f"{_permalink(dataset.channel_id, dataset.thread_ts)}"
    )


def _job_line(job: TrainingJob) -> str:
    icon = _JOB.get(job.status, ":grey_question:")
    model = f" → `{escape(job.fine_tuned_model)}`" if job.fine_tuned_model else ""
    return (
        f"{icon} `{job.short_id}` *{job.status}* on {job.provider} · base "
        f"`{escape(job.base_model)}`{model} · <#{job.channel_id}> "
        f"{_permalink(job.channel_id, job.thread_ts)}"
    )


def build_home_view(overview: Overview) -> dict[str, Any]:
    """The ``views.publish`` payload for one viewer (well under App Home's 100 blocks)."""
    blocks: list[Any] = [HeaderBlock(text="Your fine-tuning")]
    blocks.append(SectionBlock(text=MarkdownTextObject(text="*Jobs*")))
    if overview.jobs:
        blocks += [SectionBlock(text=MarkdownTextObject(text=_job_line(j))) for j in overview.jobs]
    else:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text="No jobs yet. Press “Fine-tune” under a dataset report to start one."
                    )
                ]
            )
        )
    blocks.append(DividerBlock())
    blocks.append(SectionBlock(text=MarkdownTextObject(text="*Datasets*")))
    if overview.datasets:
        blocks += [
            SectionBlock(text=MarkdownTextObject(text=_dataset_line(d))) for d in overview.datasets
        ]
    else:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text="No datasets yet. Drop a JSONL, CSV or XLSX file"
                        " in a channel with tunebot."
                    )
                ]
            )
        )
    return View(type="home", blocks=blocks).to_dict()
