"""The progress scheduler: the only code that writes job progress to Slack.

Every ``TUNEBOT_POLL_SECONDS`` one tick (APScheduler interval job, never two
at once) does three things for the jobs this replica claims:

1. poll the providers (``core.training.poller``: bounded, per-provider backoff);
2. post the replies each job deserves and has not had (``core.training.milestones``),
   recorded in two phases so a crash neither skips nor repeats one;
3. edit each job's progress message when its visible content changed, at most
   once per ``TUNEBOT_MIN_EDIT_SECONDS`` per job and within a workspace-wide
   ``chat.update`` budget (oldest-edited first; final states first of all).

All state is in the database; a restarted process carries on from the rows.
Run it inside ``tunebot serve`` (:class:`bot.runtime.Runtime` starts it) or on its
own with ``tunebot poll`` (a polling-only replica). The replies themselves go
through :class:`bot.background.poster.ThreadPoster`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot.background.edit_budget import WORKSPACE, EditBudget
from bot.background.poster import ThreadPoster, job_label
from bot.blocks.job_thread import build_progress_message
from bot.context import BotContext
from bot.flows.home import home_publisher
from bot.slack_clients import SlackClients, acting_for
from core.config import Settings
from core.errors import ProviderError
from core.providers import Checkpoint, Provider
from core.store.datasets import utcnow
from core.store.engine import session_scope
from core.store.progress import (
    claim_jobs,
    ensure_poll_states,
    release_claims,
    update_poll_states,
)
from core.training.poller import JobSource, Poller
from core.training.tracking import JobView, load_views

logger = logging.getLogger(__name__)
T = TypeVar("T")


HOME_PUBLISHES_PER_TICK = 50  # views.publish is Tier 4 (100 per minute)
EDIT_SENDERS = 4
POSTS_PER_TICK = 50  # chat.postMessage allows about one per second per channel, with bursts


@dataclass
class _Edit:
    """A planned ``chat.update``: the rendered message and what to record once sent."""

    view: JobView
    ts: str
    message: dict[str, Any]
    digest: str
    at: datetime


@dataclass
class TickSummary:
    """What one tick did; logged, and read by tests and the benchmark."""

    claimed: int = 0
    polled: int = 0
    poll_failures: int = 0
    poll_deferred: int = 0  # due jobs left for later: provider backed off, or past the deadline
    posted: int = 0
    edits: int = 0
    edits_deferred: int = 0
    finalized: int = 0
    seconds: float = 0.0
    poll_seconds: float = 0.0
    status_changed: list[int] = field(default_factory=list)


def _checkpoints(providers: Mapping[str, JobSource], view: JobView) -> list[Checkpoint]:
    """A succeeded job's checkpoints for its result message; none when they cannot be read
    (the result must not wait on them: the model id is what people need)."""
    provider = providers.get(view.job.provider)
    if not isinstance(provider, Provider) or not view.job.provider_job_id:
        return []
    try:
        return provider.list_checkpoints(view.job.provider_job_id)
    except ProviderError as error:
        logger.warning("checkpoints of job %s not listed: %s", view.job.short_id, error.message)
        return []


def _isolated(view: JobView, step: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run one job's step; an unexpected error (a bug, a network failure) is logged
    and skips only that job, which is retried at the next tick."""
    try:
        with acting_for(view.job.team_id):  # Slack calls use the job's workspace's token
            return step(*args, **kwargs)
    except Exception:
        logger.exception("progress for job %s failed in %s", view.job.short_id, step.__name__)
        return None


def _edit_order(view: JobView) -> tuple[bool, datetime]:
    """Final states first (they must never wait), then the longest-unedited."""
    return (not view.is_final, view.state.last_edit_at or datetime.min.replace(tzinfo=UTC))


class ProgressScheduler:
    """Polls claimed jobs and keeps their threads up to date.

    Parameters:
        settings: poll interval, edit throttles, concurrency, silence alert.
        engine: the database.
        providers: provider clients by name.
        client: bot-token Web API client.
        clients: bot tokens by workspace with OAuth installs (None: one token); jobs
            of a workspace without an install are polled but not posted.
        home_publisher: called with (user id) when a job's status changed, to
            refresh that person's App Home; None leaves App Home alone.
        clock: aware-UTC now (tests move it).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        providers: Mapping[str, JobSource],
        client: WebClient,
        clients: SlackClients | None = None,
        home_publisher: Callable[[str], None] | None = None,
        posts_per_tick: int = POSTS_PER_TICK,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.posts_per_tick = posts_per_tick
        self.engine = engine
        self.client = client
        self.clock = clock
        self.owner = settings.replica_id or socket.gethostname()
        self.lease = timedelta(seconds=max(60.0, 3 * settings.poll_seconds))
        self.poller = Poller(
            engine=engine,
            providers=providers,
            poll_seconds=settings.poll_seconds,
            concurrency=settings.poll_concurrency,
            clock=clock,
        )
        self.clients = clients
        self._budgets: dict[str, EditBudget] = {}
        # A few edits in flight at once: against real Slack (100-300 ms a call) a
        # budget's worth of edits would otherwise take seconds of every tick.
        self._senders = ThreadPoolExecutor(EDIT_SENDERS, thread_name_prefix="tunebot-edit")
        self.poster = ThreadPoster(
            engine=engine,
            client=client,
            providers=list(providers),
            checkpoints=partial(_checkpoints, providers),
        )
        self.home_publisher = home_publisher
        self._tick_lock = threading.Lock()
        self.tick_observers: list[Callable[[TickSummary], None]] = []
        """Called with each finished tick's summary (bot.runtime: the tick-seconds metric)."""
        self._scheduler: BackgroundScheduler | None = None

    # --- one tick ---------------------------------------------------------------
    def tick(self) -> TickSummary:
        """Claim, poll, post, edit. Never two at once (a second caller waits)."""
        with self._tick_lock:
            started = time.monotonic()
            summary = TickSummary()
            with session_scope(self.engine) as session:
                ensure_poll_states(session)
            with session_scope(self.engine) as session:
                job_ids = claim_jobs(session, owner=self.owner, now=self.clock(), lease=self.lease)
            summary.claimed = len(job_ids)
            polling = time.monotonic()
            report = self.poller.poll(
                job_ids, deadline_seconds=max(1.0, 0.8 * self.settings.poll_seconds)
            )
            summary.poll_seconds = time.monotonic() - polling
            summary.polled, summary.poll_failures = report.polled, report.failed
            summary.poll_deferred = report.deferred
            summary.status_changed = report.status_changed
            silence = timedelta(seconds=self.settings.provider_silence_alert_seconds)
            views = [
                view
                for view in load_views(
                    self.engine, job_ids, now=self.clock(), silence_after=silence
                )
                if self.clients is None or self.clients.installed(view.job.team_id)
            ]
            self._post_replies(views, summary)
            self._edit_all(views, summary)
            self._refresh_homes(views)
            self._finalize(views, summary)
            summary.seconds = time.monotonic() - started
            logger.info("progress tick: %s", summary)
            for observe in self.tick_observers:
                observe(summary)
            return summary

    def _post_replies(self, views: list[JobView], summary: TickSummary) -> None:
        """Post due thread replies, final results first, at most ``posts_per_tick`` per tick.

        A burst (hundreds of jobs starting at once) is spread over ticks rather
        than run into chat.postMessage's rate limit inside one; nothing is lost,
        the replies are still due at the next tick.
        """
        left = self.posts_per_tick
        for view in sorted(views, key=lambda v: not v.is_final):
            if left <= 0:
                break
            posted = _isolated(view, self.poster.post_due, view, job_label(view), limit=left) or 0
            summary.posted += posted
            left -= posted

    def _rendered(self, view: JobView) -> tuple[dict[str, Any], str]:
        message = build_progress_message(view.progress, job_label(view), epochs=view.epochs)
        digest = hashlib.sha256(json.dumps(message, sort_keys=True).encode()).hexdigest()[:32]
        return message, digest

    def _edit_all(self, views: list[JobView], summary: TickSummary) -> None:
        """Edit the progress messages that are due, a few ``chat.update`` calls at a time.

        The budget is the workspace's, shared with the other replicas through
        the database: one read of what is left bounds the rendering, and each
        edit is granted just before it is sent, so the budget counts edits when
        Slack sees them (a grant for the whole tick let edits sent late, on a
        busy machine, land in the next minute's window; 32 in one minute against
        a budget of 20 in CI). An edit another replica took the room for waits
        for the next tick.
        """
        due: dict[str, list[tuple[JobView, str]]] = {}
        for view in sorted(views, key=_edit_order):
            if ts := _isolated(view, self._due_ts, view):
                due.setdefault(self._workspace(view), []).append((view, ts))
        planned: list[_Edit] = []
        for workspace, edits in due.items():  # Slack's limit is per workspace
            allowance = self.budget(workspace).left()
            planned_here = 0
            for view, ts in edits:
                if planned_here >= allowance:
                    summary.edits_deferred += 1
                    continue
                if edit := _isolated(view, self._plan_edit, view, ts):
                    planned.append(edit)
                    planned_here += 1
        if not planned:
            return
        sent = [e for e in self._senders.map(self._send_edit, planned) if e is not None]
        summary.edits += len(sent)
        summary.edits_deferred += len(planned) - len(sent)
        update_poll_states(
            self.engine,
            changes={
                e.view.state.job_id: {"rendered_hash": e.digest, "last_edit_at": e.at} for e in sent
            },
        )

    def _workspace(self, view: JobView) -> str:
        """The edit budget's key: the job's team with OAuth installs, else the one workspace."""
        return (view.job.team_id or WORKSPACE) if self.clients is not None else WORKSPACE

    def budget(self, workspace: str = WORKSPACE) -> EditBudget:
        """The ``chat.update`` budget of one workspace (shared with the other replicas)."""
        if workspace not in self._budgets:
            self._budgets[workspace] = EditBudget(
                self.engine, self.settings.edits_per_minute, workspace=workspace, clock=self.clock
            )
        return self._budgets[workspace]

    def _due_ts(self, view: JobView) -> str | None:
        """The progress message's ts when an edit of it is due (not throttled), else None."""
        ts = view.job.progress_ts or self.poster.progress_ts(view)
        if not ts:
            return None
        last = view.state.last_edit_at
        if (
            not view.is_final
            and last
            and (self.clock() - last).total_seconds() < self.settings.min_edit_seconds
        ):
            return None
        return ts

    def _plan_edit(self, view: JobView, ts: str) -> _Edit | None:
        """Render a due edit; None when the message would not change."""
        message, digest = self._rendered(view)
        if digest == view.state.rendered_hash:
            return None
        return _Edit(view=view, ts=ts, message=message, digest=digest, at=self.clock())

    def _send_edit(self, edit: _Edit) -> _Edit | None:
        """Send one planned edit if the workspace's budget grants it now; None if not sent."""
        if not self.budget(self._workspace(edit.view)).take(1):
            return None
        try:
            with acting_for(edit.view.job.team_id):
                self.client.chat_update(
                    channel=edit.view.job.channel_id, ts=edit.ts, **edit.message
                )
        except SlackApiError as error:
            self._edit_failed(edit.view, error)
            return None
        except Exception:
            logger.exception("chat.update for job %s failed", edit.view.job.short_id)
            return None
        edit.view.state.rendered_hash = edit.digest
        return edit

    def _edit_failed(self, view: JobView, error: SlackApiError) -> None:
        if error.response.status_code == 429:
            headers = {k.lower(): v for k, v in (error.response.headers or {}).items()}
            retry_after = float(headers.get("retry-after") or 30)
            self.budget(self._workspace(view)).pause(retry_after)
            logger.warning("chat.update rate-limited; pausing edits %.0f s", retry_after)
        else:
            logger.warning(
                "chat.update for job %s failed: %s", view.job.short_id, error.response.get("error")
            )

    def _refresh_homes(self, views: list[JobView]) -> None:
        """Republish App Home for the people of jobs whose status changed.

        Each person once per tick, at most ``HOME_PUBLISHES_PER_TICK`` people
        (``views.publish`` is Tier 4); the rest are refreshed at the next tick.
        """
        if self.home_publisher is None:
            return
        changed = [v for v in views if v.job.status != v.state.home_status]
        done: dict[tuple[str | None, str], bool] = {}
        for view in changed:
            team = view.job.team_id
            for user in (view.job.started_by, view.uploader_id):
                if user and (team, user) not in done and len(done) < HOME_PUBLISHES_PER_TICK:
                    done[team, user] = self._publish_home(team, user)
        update_poll_states(
            self.engine,
            changes={
                v.state.job_id: {"home_status": v.job.status}
                for v in changed
                if all(done.get((v.job.team_id, u)) for u in (v.job.started_by, v.uploader_id) if u)
            },
        )

    def _publish_home(self, team: str | None, user: str) -> bool:
        assert self.home_publisher is not None
        try:
            with acting_for(team):
                self.home_publisher(user)
        except SlackApiError as error:
            logger.warning("App Home for %s not refreshed: %s", user, error.response.get("error"))
            return False
        return True

    def _finalize(self, views: list[JobView], summary: TickSummary) -> None:
        """Stop claiming final jobs whose replies are all posted and whose message shows the end."""
        done = [
            v.state.job_id
            for v in views
            if v.is_final and not v.unposted and v.state.rendered_hash == self._rendered(v)[1]
        ]
        # Nothing is left to post or edit for these jobs: stop claiming them.
        final = {"finalized": True, "claim_owner": None, "claim_expires_at": None}
        update_poll_states(self.engine, changes=dict.fromkeys(done, final))
        summary.finalized += len(done)

    # --- lifecycle ----------------------------------------------------------------
    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:
            # A bad tick (database locked, a bug) must not stop the next one.
            logger.exception("progress tick failed")

    def start(self) -> None:
        """Run ticks in a background thread every ``poll_seconds``, the first one now."""
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(
            self._safe_tick,
            "interval",
            seconds=self.settings.poll_seconds,
            id="progress",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now().astimezone(),
        )
        scheduler.start()
        self._scheduler = scheduler

    def shutdown(self) -> None:
        """Stop ticking and hand this replica's jobs to the others at once."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        self.poller.close()
        self._senders.shutdown(wait=False)
        with session_scope(self.engine) as session:
            release_claims(session, owner=self.owner)


def start_scheduler(ctx: BotContext, *, start: bool = True) -> ProgressScheduler:
    """Build the scheduler from the bot's shared services and (by default) start ticking."""
    scheduler = ProgressScheduler(
        settings=ctx.settings,
        engine=ctx.engine,
        providers=ctx.providers,
        client=ctx.client,
        clients=ctx.clients,
        home_publisher=home_publisher(ctx.client, ctx.engine),
    )
    if start:
        scheduler.start()
    return scheduler
