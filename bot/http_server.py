"""HTTP mode: bolt behind Starlette, served by uvicorn.

Why not ``App.start()``: that is bolt's development server (``http.server``).
Why not bolt's own Starlette adapter as is: it calls the synchronous
``App.dispatch`` on the event loop, so one slow request would stall all others.
Here dispatch runs in Starlette's thread pool; the event loop only parses
HTTP. ``POST /slack/events`` takes events, slash commands and interactions;
beside it the probes of :mod:`bot.probes` (``/healthz``, ``/readyz``, ``/metrics``)
and, with OAuth installs (:mod:`bot.oauth`), bolt's ``GET /slack/install`` and
``GET /slack/oauth_redirect``.

Nothing is read before it is known to be small: anyone can reach this URL
and the signature covers the whole body, so a body over ``max_request_bytes``
is refused from its ``Content-Length`` or, when chunked, as soon as the
streamed bytes pass the limit (one unsigned 300 MB POST used to take the bot
from 215 MB to 2 GB). A timestamp that is not a number is a bad signature
(401), not a crash in slack_sdk's ``int()``.
"""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.metrics import BotMetrics
from bot.probes import Readiness, probe_routes

EVENTS_PATH = "/slack/events"


class _TooLarge(Exception):
    """The body passed the limit while streaming."""


async def _bounded_body(request: Request, *, limit: int) -> bytes:
    """The body, read chunk by chunk; at most one chunk past ``limit`` is ever held."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> Response:
    return PlainTextResponse(
        f"Request body over {limit} bytes (TUNEBOT_MAX_REQUEST_BYTES).",
        status_code=413,
        headers={"Connection": "close"},
    )


def build_http_app(
    app: App,
    *,
    engine: Engine,
    readiness: Readiness | None = None,
    metrics: BotMetrics | None = None,
    max_request_bytes: int,
) -> Starlette:
    """The ASGI app for ``tunebot serve`` in HTTP mode.

    Parameters:
        app: the bolt app.
        engine: the database, for ``/healthz``.
        readiness: checks for ``/readyz`` (default: this engine and the app's client).
        metrics: served at ``/metrics`` (default: a fresh, empty registry).
        max_request_bytes: bodies over this are refused (413) before being read.
    """

    async def slack_events(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return PlainTextResponse("Bad Content-Length.", status_code=400)
            if int(declared) > max_request_bytes:
                return _too_large(max_request_bytes)
        timestamp = request.headers.get("x-slack-request-timestamp")
        if timestamp is not None and not timestamp.strip().isdigit():
            return PlainTextResponse("Invalid request signature.", status_code=401)
        try:
            body = await _bounded_body(request, limit=max_request_bytes)
        except _TooLarge:
            return _too_large(max_request_bytes)
        try:  # to_bolt_request decodes it; Slack sends UTF-8, anything else is not Slack
            bolt_request = to_bolt_request(request, body)
        except UnicodeDecodeError:
            return PlainTextResponse("Request body is not UTF-8.", status_code=400)
        bolt_response = await run_in_threadpool(app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    probes = probe_routes(
        engine=engine,
        readiness=readiness or Readiness(engine=engine, client=app.client),
        metrics=metrics or BotMetrics(),
    )
    return Starlette(
        routes=[Route(EVENTS_PATH, slack_events, methods=["POST"]), *_oauth_routes(app), *probes]
    )


def _oauth_routes(app: App) -> list[Route]:
    """bolt's install page and OAuth redirect, when the app installs through OAuth."""
    flow = app.oauth_flow
    if flow is None:
        return []

    async def install(request: Request) -> Response:
        # Issues a state (a database write): off the event loop, like dispatch.
        response = await run_in_threadpool(flow.handle_installation, to_bolt_request(request, b""))
        return to_starlette_response(response)

    async def redirect(request: Request) -> Response:
        # Trades the code for a token (oauth.v2.access, auth.test) and stores the install.
        response = await run_in_threadpool(flow.handle_callback, to_bolt_request(request, b""))
        return to_starlette_response(response)

    return [
        Route(flow.install_path, install, methods=["GET"]),
        Route(flow.redirect_uri_path, redirect, methods=["GET"]),
    ]
