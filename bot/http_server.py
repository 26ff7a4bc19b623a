"""HTTP mode: bolt behind Starlette, served by uvicorn.

Why not ``App.start()``: that is bolt's development server (``http.server``).
Why not bolt's own Starlette adapter as is: it calls the synchronous
``App.dispatch`` on the event loop, so one slow request would stall all others.
Here dispatch runs in Starlette's thread pool; the event loop only parses
HTTP. ``POST /slack/events`` takes events, slash commands and interactions;
``GET /healthz`` checks the database.
"""

from __future__ import annotations

from functools import partial

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.store.engine import database_ok

EVENTS_PATH = "/slack/events"


def build_http_app(app: App, *, engine: Engine) -> Starlette:
    """The ASGI app for ``tunebot serve`` in HTTP mode."""

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        bolt_response = await run_in_threadpool(app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    async def healthz(_request: Request) -> Response:
        try:
            await run_in_threadpool(partial(database_ok, engine))
        except Exception as exc:  # any database failure means "not healthy"
            return JSONResponse({"ok": False, "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route(EVENTS_PATH, slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
