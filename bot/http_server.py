"""HTTP mode: bolt behind Starlette, served by uvicorn.

Why not ``App.start()``: that is bolt's development server (``http.server``).
Why not bolt's own Starlette adapter as is: it calls the synchronous
``App.dispatch`` on the event loop, so one slow request would stall all others.
Here dispatch runs in Starlette's thread pool; the event loop only parses
HTTP. ``POST /slack/events`` takes events, slash commands and interactions;
beside it the probes of :mod:`bot.probes` (``/healthz``, ``/readyz``, ``/metrics``).
"""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.metrics import BotMetrics
from bot.probes import Readiness, probe_routes

EVENTS_PATH = "/slack/events"


def build_http_app(
    app: App,
    *,
    engine: Engine,
    readiness: Readiness | None = None,
    metrics: BotMetrics | None = None,
) -> Starlette:
    """The ASGI app for ``tunebot serve`` in HTTP mode.

    Parameters:
        app: the bolt app.
        engine: the database, for ``/healthz``.
        readiness: checks for ``/readyz`` (default: this engine and the app's client).
        metrics: served at ``/metrics`` (default: a fresh, empty registry).
    """

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        bolt_response = await run_in_threadpool(app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    probes = probe_routes(
        engine=engine,
        readiness=readiness or Readiness(engine=engine, client=app.client),
        metrics=metrics or BotMetrics(),
    )
    return Starlette(routes=[Route(EVENTS_PATH, slack_events, methods=["POST"]), *probes])
