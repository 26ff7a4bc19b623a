"""Health, readiness and metrics over HTTP, for both transports.

- ``GET /healthz`` (liveness): the process answers and the database does.
- ``GET /readyz`` (readiness): the database answers, its schema is the one
  this tunebot expects, and Slack accepts the bot token (``auth.test``, its
  answer cached for :data:`SLACK_CHECK_SECONDS` so a probe every few seconds
  does not spend Slack's rate limit). 503 with the failed checks otherwise.
- ``GET /metrics``: :class:`bot.metrics.BotMetrics` in Prometheus' format.
  Open, as scrapers expect; it holds counts and timings, never ids or tokens.

In HTTP mode these routes sit beside ``/slack/events``; in Socket Mode (no
HTTP server of its own) :func:`serve_probes` runs them on ``--health-port``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.metrics import BotMetrics
from bot.slack_clients import WorkspaceClient
from core.store.engine import database_ok

logger = logging.getLogger(__name__)

SLACK_CHECK_SECONDS = 30.0


class Readiness:
    """The readiness checks; each returns None when fine, else what is wrong."""

    def __init__(
        self,
        *,
        engine: Engine,
        client: WebClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.client = client
        self.clock = clock
        self._slack: tuple[float, str | None] | None = None
        self._lock = threading.Lock()

    def database(self) -> str | None:
        try:
            database_ok(self.engine)
        except Exception as exc:  # any failure to answer means "not ready"
            return f"database unreachable ({type(exc).__name__})"
        return None

    def schema(self) -> str | None:
        from core.store.schema import DATABASE, SchemaState

        try:
            state = DATABASE.state(self.engine)
        except Exception as exc:
            return f"schema unreadable ({type(exc).__name__})"
        if state is SchemaState.CURRENT:
            return None
        return f"schema {state.value}; run `{DATABASE.upgrade_command}`"

    def slack(self) -> str | None:
        if isinstance(self.client, WorkspaceClient):
            # OAuth installs: no token of the process's own to test; bolt checks
            # each workspace's token with auth.test as its requests arrive.
            return None
        with self._lock:
            now = self.clock()
            if self._slack is not None and now - self._slack[0] < SLACK_CHECK_SECONDS:
                return self._slack[1]
            try:
                self.client.auth_test()
                problem = None
            except SlackApiError as exc:
                problem = f"Slack auth.test: {exc.response.get('error', 'failed')}"
            except OSError as exc:
                problem = f"Slack unreachable ({type(exc).__name__})"
            self._slack = (now, problem)
            return problem

    def problems(self) -> dict[str, str]:
        checks = {"database": self.database, "schema": self.schema, "slack": self.slack}
        found = {}
        for name, check in checks.items():
            problem = check()
            if problem is not None:
                found[name] = problem
            if name == "database" and problem is not None:
                found["schema"] = "not checked: database unreachable"
                break
        return found


def probe_routes(*, engine: Engine, readiness: Readiness, metrics: BotMetrics) -> list[Route]:
    """``/healthz``, ``/readyz`` and ``/metrics``."""

    async def healthz(_request: Request) -> Response:
        try:
            await run_in_threadpool(database_ok, engine)
        except Exception as exc:  # any database failure means "not healthy"
            return JSONResponse({"ok": False, "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"ok": True})

    async def readyz(_request: Request) -> Response:
        problems = await run_in_threadpool(readiness.problems)
        if problems:
            return JSONResponse({"ready": False, "problems": problems}, status_code=503)
        return JSONResponse({"ready": True})

    async def metrics_endpoint(_request: Request) -> Response:
        body = await run_in_threadpool(metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]


def serve_probes(routes: list[Route], *, host: str, port: int) -> uvicorn.Server:
    """Serve ``routes`` on ``host:port`` from a daemon thread (Socket Mode);
    ``server.should_exit = True`` stops it."""
    config = uvicorn.Config(
        Starlette(routes=routes),
        host=host,
        port=port,
        log_config=None,  # core.logs' handler
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    # uvicorn installs signal handlers only in the main thread; this one is not.
    thread = threading.Thread(target=server.run, name="probes", daemon=True)
    thread.start()
    logger.info("health, readiness and metrics on %s:%d", host, port)
    return server
