"""Exactly-once replies in a job's thread (progress message, milestones, plot, held-out report).

Two phases per reply, both recorded in ``job_message`` rows (:mod:`core.store.polling`):
an intent before the Slack call and the ts after it, so a crash in between
neither skips nor repeats a reply (the thread is searched for its marker).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot.blocks.job_thread import (
    JobLabel,
    ResultFacts,
    build_failure_message,
    build_progress_message,
    build_result_message,
    milestone_text,
    plot_file_name,
)
from bot.blocks.jobs import JobChoices
from bot.flows.cards import view_of
from core.errors import TunebotError
from core.providers import Checkpoint
from core.store.engine import session_scope
from core.store.jobs import update_job
from core.store.progress import POSTED, JobMessage, record_intent, record_posted
from core.tokens.models import resolve_model
from core.training.milestones import Milestone
from core.training.plots import loss_curve_png
from core.training.refusals import offered_providers
from core.training.tracking import JobView

logger = logging.getLogger(__name__)

MARKER_EVENT = "tunebot_job_message"
PROGRESS_KEY = "progress"


@dataclass(frozen=True)
class ReplyThread:
    """A job's thread: where its replies go, and the marker that finds them again."""

    job_id: int
    short_id: str
    channel_id: str
    thread_ts: str


def _thread(view: JobView) -> ReplyThread:
    job = view.job
    return ReplyThread(view.state.job_id, job.short_id, job.channel_id, job.thread_ts)


class ThreadPoster:
    """Posts a job's thread replies exactly once, across crashes and restarts.

    Phase one commits an intent row; phase two, after Slack answered, the ts.
    An intent found without a ts means the process died (or Slack failed) in
    between: the thread is searched for the reply's marker (message
    ``metadata``, or the unique name of an uploaded file) and the reply is
    posted only if it is not there. The held-out report
    (:mod:`bot.flows.heldout`) goes through the same two phases.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        client: WebClient,
        providers: Sequence[str] = (),
        checkpoints: Callable[[JobView], Sequence[Checkpoint]] | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.providers = list(providers)
        # Lists a succeeded job's checkpoints for its result message; None: not shown.
        self.checkpoints = checkpoints

    def post_due(self, view: JobView, label: JobLabel, *, limit: int) -> int:
        """Post up to ``limit`` of the view's unposted replies in order; stop at a failure."""
        posted = 0
        if not (view.job.progress_ts or self.progress_ts(view)):
            return posted
        for milestone in view.unposted[:limit]:
            try:
                self._once(view, milestone.key, partial(self._send, view, label, milestone))
            except SlackApiError as error:
                logger.warning(
                    "reply %s for job %s not posted yet: %s",
                    milestone.key,
                    view.job.short_id,
                    error.response.get("error"),
                )
                break
            posted += 1
        return posted

    def progress_ts(self, view: JobView) -> str | None:
        """The progress message's ts, posting it first for a job that has none."""
        if view.job.progress_ts:
            return view.job.progress_ts
        message = build_progress_message(view.progress, job_label(view), epochs=view.epochs)
        thread = _thread(view)
        try:
            ts = self._once(view, PROGRESS_KEY, lambda: self.post(thread, PROGRESS_KEY, message))
        except SlackApiError as error:
            logger.warning(
                "progress message for job %s not posted: %s",
                view.job.short_id,
                error.response.get("error"),
            )
            return None
        if ts:
            update_job(self.engine, view.state.job_id, progress_ts=ts)
            view.job.progress_ts = ts
        return ts

    def _once(self, view: JobView, key: str, send: Callable[[], str | None]) -> str | None:
        file_name = plot_file_name(view.job.short_id) if key == "plot" else None
        record = view.messages.get(key)
        ts = self.once(_thread(view), key, send, record=record, file_name=file_name)
        view.messages[key] = JobMessage(job_id=view.state.job_id, key=key, state=POSTED, ts=ts)
        return ts

    def once(
        self,
        thread: ReplyThread,
        key: str,
        send: Callable[[], str | None],
        *,
        record: JobMessage | None,
        file_name: str | None = None,
    ) -> str | None:
        """Post reply ``key`` with ``send`` unless it is already in the thread; return its ts.

        Parameters:
            thread: the job's thread.
            key: the reply's name, unique per job.
            send: posts the reply (with :meth:`post`, or an upload named ``file_name``)
                and returns its ts or file id.
            record: the reply's ``job_message`` row as last read, None when there is none.
            file_name: for an upload, its name in the thread (unique per job).
        """
        if record is not None and record.state == POSTED:
            return record.ts
        ts = self.find(thread, key, file_name=file_name) if record is not None else None
        if record is None:
            with session_scope(self.engine) as session:
                record_intent(session, job_id=thread.job_id, key=key)
        if ts is None:
            ts = send()
        with session_scope(self.engine) as session:
            record_posted(session, job_id=thread.job_id, key=key, ts=ts)
        return ts

    def post(self, thread: ReplyThread, key: str, message: dict[str, Any]) -> str:
        """``chat.postMessage`` in the thread, marked with the job and key for :meth:`find`."""
        response = self.client.chat_postMessage(
            channel=thread.channel_id,
            thread_ts=thread.thread_ts,
            **message,
            metadata={
                "event_type": MARKER_EVENT,
                "event_payload": {"job": thread.short_id, "key": key},
            },
        )
        return str(response["ts"])

    def _send(self, view: JobView, label: JobLabel, milestone: Milestone) -> str | None:
        if milestone.kind == "plot":
            png = loss_curve_png(view.points, title=f"Loss, job {view.job.short_id}")
            response = self.client.files_upload_v2(
                channel=view.job.channel_id,
                thread_ts=view.job.thread_ts,
                content=png,
                filename=plot_file_name(view.job.short_id),
                title=f"Loss curve {label.short_id}",
                alt_txt="Training and validation loss by step",
                initial_comment=f"Loss curve of job `{label.short_id}`: training and validation "
                "loss by step.",
            )
            return str(response["files"][0]["id"]) if response.get("files") else None
        if milestone.kind == "succeeded":
            message = build_result_message(
                label,
                result_facts(view),
                checkpoints=self.checkpoints(view) if self.checkpoints else (),
            )
        elif milestone.kind == "failed":
            message = build_failure_message(
                milestone, replace(label, offer_retry_on=self._retry_on(label))
            )
        else:
            message = {
                "text": milestone_text(milestone, label, provider_failure=view.state.last_failure)
            }
        return self.post(_thread(view), milestone.key, message)

    def _retry_on(self, label: JobLabel) -> tuple[str, ...]:
        """Where a failed job may be retried: its own provider unless the organisation
        was refused there (remembered from the job rows), and the worker."""
        offered = offered_providers(self.engine, self.providers)
        return tuple(p for p in (label.provider, "worker") if p in offered)

    def find(self, thread: ReplyThread, key: str, *, file_name: str | None = None) -> str | None:
        """The ts of reply ``key`` (or the id of the file ``file_name``) in the thread, if any."""
        cursor = None
        while True:
            page = self.client.conversations_replies(
                channel=thread.channel_id,
                ts=thread.thread_ts,
                include_all_metadata=True,
                limit=200,
                **({"cursor": cursor} if cursor else {}),
            )
            for message in page.get("messages") or []:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("job") == thread.short_id and payload.get("key") == key:
                    return str(message["ts"])
                for shared in message.get("files") or []:
                    if file_name is not None and shared.get("name") == file_name:
                        return str(shared["id"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None


def job_label(view: JobView) -> JobLabel:
    """How a job is named in its thread's messages."""
    job = view.job
    return view_of(
        JobLabel,
        job,
        uploader_id=view.uploader_id,
        dataset_short_id=view.dataset_short_id,
        choices=JobChoices.from_json(job.options_json),
        price_per_1m=_price(job.base_model) if job.provider != "worker" else None,
        offer_retry_on=(),  # decided when a failure is posted
    )


def _price(model: str) -> float | None:
    try:
        return resolve_model(model).price_per_1m
    except TunebotError:
        return None


def result_facts(view: JobView) -> ResultFacts:
    """The success post's facts: last losses, how long training took, what was used."""
    snapshot, progress = view.snapshot, view.progress
    took = None
    began = view.state.running_since or snapshot.created_at
    if snapshot.finished_at and began:
        took = snapshot.finished_at - began
    return ResultFacts(
        train_loss=progress.train_loss,
        valid_loss=progress.valid_loss,
        duration=took if took is not None else progress.elapsed,
        hyperparameters=snapshot.hyperparameters,
        reported_cost_usd=snapshot.cost_usd,
    )
