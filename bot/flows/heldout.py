"""Held-out evaluation reports in a job's thread: render a finished run, post it exactly once.

:mod:`bot.background.evaluations` runs the evaluations; this module turns a
finished run into Slack messages (the report, or the failure) plus the CSV of
every prompt, posted through :class:`bot.background.poster.ThreadPoster`.
"""

from __future__ import annotations

import csv
import io
import logging
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot.background.poster import ReplyThread, ThreadPoster
from bot.blocks.heldout import build_heldout_failure, build_heldout_report
from bot.blocks.limits import MAX_MESSAGE_TEXT, truncate
from bot.slack_clients import NotInstalled, acting_for
from core.evaluation.heldout import HeldoutResult
from core.evaluation.runs import mark_posted, release_report, stored_report
from core.store.engine import session_scope
from core.store.evaluation import HeldoutRun
from core.store.jobs import TrainingJob, get_job
from core.store.progress import get_message

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


REPORT_KEY = "heldout"
CSV_KEY = "heldout:csv"


def _upload(client: WebClient, thread: ReplyThread, name: str, content: str) -> str | None:
    response = client.files_upload_v2(
        channel=thread.channel_id,
        thread_ts=thread.thread_ts,
        filename=name,
        title=f"Held-out evaluation of {thread.short_id}: every prompt",
        content=content.encode("utf-8"),
    )
    return str(response["files"][0]["id"]) if response.get("files") else None


def post_report(engine: Engine, client: WebClient, run: HeldoutRun, job: TrainingJob) -> str:
    """Post a finished run's report (and its CSV) to the job's thread exactly once.

    The same two phases as the progress scheduler's milestones (``job_message``
    rows keyed ``heldout`` and ``heldout:csv``): a restart after a crash at any
    point finds in the thread what was already posted instead of posting it again.
    """
    assert job.id is not None
    poster = ThreadPoster(engine=engine, client=client)
    thread = ReplyThread(job.id, job.short_id, job.channel_id, job.thread_ts)
    report = stored_report(run)
    if report is None:
        failure = build_heldout_failure(job.short_id, run.error or "unknown error")
        message: dict[str, Any] = {"text": truncate(failure, MAX_MESSAGE_TEXT)}
    else:
        message = build_heldout_report(
            report.result, job_short_id=job.short_id, judge_model=report.judge_model
        )
    with session_scope(engine) as db:
        records = {key: get_message(db, job_id=job.id, key=key) for key in (REPORT_KEY, CSV_KEY)}
    ts = poster.once(
        thread,
        REPORT_KEY,
        partial(poster.post, thread, REPORT_KEY, message),
        record=records[REPORT_KEY],
    )
    if report is not None:
        name = f"heldout-{job.short_id}.csv"
        poster.once(
            thread,
            CSV_KEY,
            partial(_upload, client, thread, name, items_csv(report.result)),
            record=records[CSV_KEY],
            file_name=name,
        )
    assert ts is not None  # chat.postMessage always answers with a ts
    return ts


def post_claimed(engine: Engine, client: WebClient, run: HeldoutRun) -> bool:
    """Post a run claimed for posting; on a Slack error give the claim back for the next tick."""
    assert run.id is not None
    job = get_job(engine, run.job_id)
    if job is None:
        return False
    try:
        with acting_for(job.team_id):  # the job's workspace's token
            ts = post_report(engine, client, run, job)
    except NotInstalled:
        release_report(engine, run.id)  # posted if the workspace installs tunebot again
        return False
    except SlackApiError as exc:
        logger.warning(
            "held-out report of %s not posted yet: %s", job.short_id, exc.response.get("error")
        )
        release_report(engine, run.id)
        return False
    mark_posted(engine, run.id, ts)
    return True
