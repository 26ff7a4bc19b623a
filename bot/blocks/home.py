"""The App Home tab: the viewer's jobs, A/B tests and datasets, with links to their threads.

Builders take view models (:class:`HomePage` and its rows), never table rows:
:mod:`bot.flows.home` fills them from the store and adds the permalinks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.blocks.ids import AB_START_ACTION_ID, CANCEL_ACTION_ID, HOME_REFRESH_ACTION_ID
from bot.blocks.limits import MAX_SECTION_TEXT, truncate
from bot.blocks.mrkdwn import escape
from bot.blocks.text import VERDICT_WORDS, plural, provider_name

_VERDICT = {"ready": ":white_check_mark:", "warnings": ":warning:", "not_ready": ":x:"}
_JOB = {
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "cancelled": ":no_entry_sign:",
    "running": ":gear:",
    "queued": ":hourglass_flowing_sand:",
    "validating_files": ":mag:",
    "pending": ":hourglass_flowing_sand:",
    "starting": ":hourglass_flowing_sand:",
}
_CANCELLABLE = ("validating_files", "queued", "running", "pending")


@dataclass(frozen=True)
class HomeJob:
    short_id: str
    status: str
    provider: str
    base_model: str
    fine_tuned_model: str | None
    channel_id: str
    created_at: datetime
    link: str | None = None  # the thread's permalink


@dataclass(frozen=True)
class HomeDataset:
    short_id: str
    file_name: str
    verdict: str
    examples: int
    channel_id: str
    created_at: datetime
    link: str | None = None


@dataclass(frozen=True)
class HomeSession:
    short_id: str
    candidate_label: str
    baseline_label: str
    channel_id: str
    created_at: datetime
    link: str | None = None


@dataclass(frozen=True)
class HomePage:
    """What one viewer's App Home shows, newest first in each list."""

    jobs: Sequence[HomeJob] = ()
    sessions: Sequence[HomeSession] = ()
    datasets: Sequence[HomeDataset] = field(default_factory=tuple)


def when(moment: datetime) -> str:
    """A time in the viewer's own time zone (Slack renders ``<!date^…>``)."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    seconds = int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
    return f"<!date^{seconds}^{{date_short_pretty}} {{time}}|{fallback}>"


def _thread(link: str | None, channel_id: str) -> str:
    # A permalink from chat.getPermalink; its query's "&" is written as Slack's entity.
    return f"<{escape(link)}|open thread>" if link else f"in <#{channel_id}>"


def _job_section(job: HomeJob) -> Block:
    icon = _JOB.get(job.status, ":grey_question:")
    model = f" → `{escape(job.fine_tuned_model)}`" if job.fine_tuned_model else ""
    text = (
        f"{icon} `{job.short_id}` *{escape(job.status)}* on {provider_name(job.provider)} · base "
        f"`{escape(job.base_model)}`{model}\n{when(job.created_at)} · "
        f"{_thread(job.link, job.channel_id)}"
    )
    accessory = None
    if job.status == "succeeded":
        accessory = ButtonElement(
            text="Start A/B test", action_id=AB_START_ACTION_ID, value=job.short_id
        )
    elif job.status in _CANCELLABLE:
        accessory = ButtonElement(
            text="Cancel job",
            action_id=CANCEL_ACTION_ID,
            value=job.short_id,
            style="danger",
            confirm=ConfirmObject(
                title="Cancel this job?",
                text=f"Job {job.short_id} stops at the provider.",
                confirm="Cancel job",
                deny="Keep training",
            ),
        )
    return SectionBlock(
        text=MarkdownTextObject(text=truncate(text, MAX_SECTION_TEXT)), accessory=accessory
    )


def _session_line(session: HomeSession) -> str:
    return (
        f":vs: `{session.short_id}` *{escape(session.candidate_label)}* vs "
        f"*{escape(session.baseline_label)}* · {when(session.created_at)} · "
        f"{_thread(session.link, session.channel_id)}"
    )


def _dataset_line(dataset: HomeDataset) -> str:
    icon = _VERDICT.get(dataset.verdict, ":page_facing_up:")
    verdict = VERDICT_WORDS.get(dataset.verdict) or escape(dataset.verdict)
    return (
        f"{icon} `{dataset.short_id}` *{escape(dataset.file_name[:80])}* · "
        f"{plural(dataset.examples, 'example')} · {verdict} · {when(dataset.created_at)} · "
        f"{_thread(dataset.link, dataset.channel_id)}"
    )


def _empty(text: str) -> Block:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def build_home_view(page: HomePage) -> dict[str, Any]:
    """The ``views.publish`` payload for one viewer (well under App Home's 100 blocks)."""
    blocks: list[Block] = [
        HeaderBlock(text="Your fine-tuning"),
        SectionBlock(
            text=MarkdownTextObject(
                text="Drop a JSONL, CSV or XLSX file in a channel with tunebot to check it; "
                "the report's buttons start a job. `/finetune help` lists the commands."
            ),
            accessory=ButtonElement(text="Refresh", action_id=HOME_REFRESH_ACTION_ID),
        ),
        SectionBlock(text=MarkdownTextObject(text="*Jobs*")),
    ]
    if page.jobs:
        blocks += [_job_section(j) for j in page.jobs]
    else:
        blocks.append(_empty("No jobs yet. Press “Fine-tune” under a dataset report to start one."))
    blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text="*A/B tests*"))]
    if page.sessions:
        blocks += [
            SectionBlock(text=MarkdownTextObject(text=_session_line(s))) for s in page.sessions
        ]
    else:
        blocks.append(
            _empty("No A/B tests yet. A finished job's “Start A/B test” button starts one.")
        )
    blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text="*Datasets*"))]
    if page.datasets:
        blocks += [
            SectionBlock(text=MarkdownTextObject(text=_dataset_line(d))) for d in page.datasets
        ]
    else:
        blocks.append(
            _empty("No datasets yet. Drop a JSONL, CSV or XLSX file in a channel with tunebot.")
        )
    return View(type="home", blocks=blocks).to_dict()
