"""The running bot: every executor, scheduler and client, started and stopped in one place.

What a bot process holds, and who stops it (:meth:`Runtime.stop`):

- the bot-token ``WebClient`` and the database engine (:class:`BotContext`);
- bolt's listener pool (acks and the short work after them);
- three pools on the context: background work after an ack, dataset
  validation, A/B prompt generation;
- the progress scheduler (its APScheduler, its provider-poll pool and its
  ``chat.update`` senders; :mod:`bot.background.progress_scheduler`);
- the evaluation scheduler (held-out runs, abandoned A/B prompts;
  :mod:`bot.background.evaluations`);
- the process's one metrics registry (:mod:`bot.metrics`, on the context) and
  the probes serving it with health and readiness (:mod:`bot.probes`).

``tunebot serve`` builds one, then serves Slack in Socket Mode or over HTTP;
``tunebot poll`` builds one without listeners (a polling-only replica).
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from starlette.routing import Route

from bot.app import LISTENER_THREADS, build_app, build_context
from bot.background.evaluations import start_evaluation_scheduler
from bot.background.progress_scheduler import ProgressScheduler, start_scheduler
from bot.context import BotContext
from bot.flows.ab import flush_scoreboard_edits
from bot.http_server import build_http_app
from bot.probes import Readiness, probe_routes, serve_probes
from bot.slack_connection import SlackRejected, until_reached
from bot.startup import StartupError
from core.config import Settings
from core.logs import ContextThreadPoolExecutor

logger = logging.getLogger(__name__)


class Runtime:
    """One bot process's services.

    Parameters:
        settings: loaded once by the entry point.
        listen: build the bolt app (False for a polling-only replica).
        evaluations: run held-out evaluations and A/B prompt resumption.

    While Slack cannot be reached, building one waits (one log line per
    attempt, backoff up to a minute; :mod:`bot.slack_connection`).

    Raises:
        StartupError: Slack rejected the bot token (``auth.test`` failed).
    """

    def __init__(
        self, settings: Settings, *, listen: bool = True, evaluations: bool = True
    ) -> None:
        self.settings = settings
        self.ctx: BotContext = build_context(settings)
        self.metrics = self.ctx.metrics
        self.metrics.instrument_client(self.ctx.client)
        self.metrics.watch_jobs(self.ctx.engine)
        self.readiness = Readiness(engine=self.ctx.engine, client=self.ctx.client)
        self._probes: uvicorn.Server | None = None
        self.listener_pool: ThreadPoolExecutor | None = None
        self.app: App | None = None
        self.progress: ProgressScheduler | None = None
        self.evaluations: BackgroundScheduler | None = None
        self._with_evaluations = evaluations
        if listen:
            self._warn_about_settings()
            # Context-copying: listeners log with the request's ids (bot.metrics).
            self.listener_pool = ContextThreadPoolExecutor(
                LISTENER_THREADS, thread_name_prefix="bolt-listener"
            )
            try:
                if not settings.oauth_install:  # OAuth: no token until a workspace installs
                    # Waits out an unreachable Slack; bolt's own auth.test then succeeds.
                    until_reached(
                        self.ctx.client.auth_test,
                        what="auth.test",
                        where=settings.slack_api_base_url,
                    )
                self.app = build_app(self.ctx, listener_executor=self.listener_pool)
            except (SlackRejected, BoltError) as exc:
                self.stop()
                raise StartupError(
                    f"Slack rejected SLACK_BOT_TOKEN (auth.test: {exc}). Copy the Bot User "
                    "OAuth Token (xoxb-…) from the app's OAuth & Permissions page."
                ) from None
            self.metrics.wrap_dispatch(self.app)
        self.progress = start_scheduler(self.ctx, start=False)
        self.progress.tick_observers.append(lambda tick: self.metrics.ticked(tick.seconds))

    def _warn_about_settings(self) -> None:
        if self.ctx.authorizer.open_to_everyone:
            logger.warning(
                "Neither TUNEBOT_ADMINS nor TUNEBOT_ALLOWED_USERGROUP is set: every member of the "
                "workspace can start fine-tuning jobs (and spend money)."
            )
        if not self.ctx.providers:
            logger.warning(
                "No provider configured (TUNEBOT_WORKER_URL, OPENAI_API_KEY, Azure): "
                "datasets are validated but no job can start."
            )

    def start(self) -> None:
        """Start progress polling and (unless turned off) the evaluation scheduler."""
        assert self.progress is not None
        self.progress.start()
        if self._with_evaluations:
            self.evaluations = start_evaluation_scheduler(self.ctx)

    def stop(self) -> None:
        """Stop everything; this replica's job claims are released at once."""
        if self._probes is not None:
            self._probes.should_exit = True
            self._probes = None
        if self.evaluations is not None:
            self.evaluations.shutdown(wait=False)
            self.evaluations = None
        if self.progress is not None:
            self.progress.shutdown()
        for pool in (
            self.listener_pool,
            self.ctx.pool,
            self.ctx.validation_pool,
            self.ctx.generation_pool,
        ):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        flush_scoreboard_edits(self.ctx)  # votes counted in the throttle window are shown
        self.ctx.model_lists.close()

    def probe_routes(self) -> list[Route]:
        """``/healthz``, ``/readyz`` and ``/metrics`` for this process."""
        return probe_routes(engine=self.ctx.engine, readiness=self.readiness, metrics=self.metrics)

    def serve_probes(self, *, host: str, port: int) -> None:
        """Serve the probes from a thread (Socket Mode, polling-only replicas);
        :meth:`stop` stops them."""
        self._probes = serve_probes(self.probe_routes(), host=host, port=port)

    def serve(self, *, host: str, port: int, health_port: int | None = None) -> None:
        """Serve Slack until stopped: Socket Mode with an app token, else HTTP on ``port``.

        Parameters:
            health_port: Socket Mode only: serve the probes on this port (HTTP
                mode serves them on ``port`` beside ``/slack/events``).
        """
        assert self.app is not None, "built with listen=False"
        self.start()
        try:
            if self.settings.slack_app_token is not None:
                if health_port is not None:
                    self.serve_probes(host=host, port=health_port)
                logger.info("Socket Mode: connecting to Slack")
                handler = SocketModeHandler(
                    self.app, self.settings.slack_app_token.get_secret_value()
                )
                # Python dies on SIGTERM without unwinding; turn it into SystemExit so
                # the finally block stops everything and releases job claims
                # (uvicorn does this itself in HTTP mode).
                signal.signal(signal.SIGTERM, _exit_on_sigterm)
                try:
                    until_reached(
                        lambda: _connect(handler),
                        what="apps.connections.open",
                        where=self.settings.slack_api_base_url,
                    )
                except SlackRejected as exc:
                    raise StartupError(
                        f"Slack rejected SLACK_APP_TOKEN (apps.connections.open: {exc}). Create "
                        "an app-level token (xapp-…) with connections:write on the app's Basic "
                        "Information page."
                    ) from None
                logger.info("Socket Mode: connected")
                threading.Event().wait()  # the client's own threads serve; this one waits
            else:
                logger.info("HTTP mode on %s:%d, Slack requests at POST /slack/events", host, port)
                if self.settings.oauth_install:
                    logger.info("OAuth install: GET /slack/install, GET /slack/oauth_redirect")
                uvicorn.run(
                    build_http_app(
                        self.app,
                        engine=self.ctx.engine,
                        readiness=self.readiness,
                        metrics=self.metrics,
                        max_request_bytes=self.settings.max_request_bytes,
                    ),
                    host=host,
                    port=port,
                    log_level="info",
                    access_log=False,
                    log_config=None,  # keep core.logs' handler (JSON lines, redaction)
                )
        finally:
            self.stop()


def _connect(handler: SocketModeHandler) -> None:
    # A URL issued before a failed connect may be stale; ask for a fresh one each try.
    handler.client.wss_uri = None
    handler.connect()  # type: ignore[no-untyped-call]  # slack_bolt leaves it untyped


def _exit_on_sigterm(_signum: int, _frame: Any) -> None:
    logger.info("SIGTERM: stopping")
    raise SystemExit(0)
