"""``FakeSlack``: a strict fake of the Slack Web API on loopback.

Why a real server: the bot talks to it through slack_sdk's real ``WebClient``
(``base_url=fake.base_url``), so argument encoding, retry handlers (429 +
``Retry-After``), files_upload_v2's three steps and file downloads with the bot
token are all exercised for real. The fake accepts only the methods the bot is
known to use and checks their required arguments against Slack's OpenAPI spec
(a table of required arguments derived from it ships as ``required_args.json``),
so calling a new method or forgetting an argument fails a test rather than
production.

It ships with tunebot (like httpx's ``MockTransport``) so ``tunebot demo`` can
run the real bot against it without a Slack workspace; the tests use it too.

Example::

    with FakeSlack() as slack:
        slack.add_channel("C0DATA", name="fine-tuning")
        client = WebClient(token=slack.bot_token, base_url=slack.base_url)
        client.chat_postMessage(channel="C0DATA", text="hi")
        assert slack.messages("C0DATA")[0]["text"] == "hi"
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.fakeslack.errors import SlackError
from bot.fakeslack.faults import SlackFaults, failure_response
from bot.fakeslack.inspection import SlackInspection
from bot.fakeslack.methods import SlackMethods
from bot.fakeslack.oauth import OAUTH_METHOD, SlackInstalls
from bot.fakeslack.server import LoopbackFake, LoopbackServer
from bot.fakeslack.socket_mode import SOCKET_METHOD, SlackSocketMode
from bot.fakeslack.waiting import wait_for
from bot.fakeslack.workspace import Workspace

__all__ = ["DEFAULT_METHODS", "FakeSlack", "SlackCall", "SlackError"]

T = TypeVar("T")

# Required arguments per method, derived by load_required() from Slack's spec;
# tests/bot/fakeslack/test_api.py checks the table still matches the spec.
REQUIRED_ARGS_PATH = Path(__file__).with_name("required_args.json")
MANIFEST_PATH = Path(__file__).resolve().parents[2] / "manifest.yml"

DEFAULT_METHODS = frozenset(
    {
        "auth.test",
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "chat.getPermalink",
        "reactions.add",
        "reactions.remove",
        "files.info",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
        "views.open",
        "views.update",
        "views.publish",
        "users.info",
        "usergroups.users.list",
        "conversations.info",
        "conversations.replies",
        SOCKET_METHOD,
    }
)

# Required arguments the spec does not list (it is older than these methods,
# or marks them optional although Slack rejects the call without them).
_EXTRA_REQUIRED: dict[str, tuple[str, ...]] = {
    "files.getUploadURLExternal": ("filename", "length"),
    "files.completeUploadExternal": ("files",),
    "files.info": ("file",),
    "users.info": ("user",),
    "conversations.info": ("channel",),
    "conversations.replies": ("channel", "ts"),
    "views.update": ("view",),
    "reactions.remove": ("name",),
}
# The error Slack gives for some missing arguments instead of invalid_arguments.
_MISSING_ERRORS: dict[str, str] = {
    "channel": "channel_not_found",
    "user": "user_not_found",
    "file": "file_not_found",
    "timestamp": "no_item_specified",
    "name": "invalid_name",
    "ts": "message_not_found",
    "message_ts": "message_not_found",
    "trigger_id": "invalid_trigger_id",
}

_LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en-US"><head><meta charset="utf-8"><title>Slack</title></head>
<body><div id="page"><h1>Sign in to Tunebot Test</h1>
<p>Enter your workspace's Slack URL.</p><form action="/signin" method="post">
<input type="email" name="email"><button type="submit">Sign in with Email</button>
</form></div></body></html>
"""


class SlackCall(NamedTuple):
    """One Web API call as the fake saw it (token removed from ``args``)."""

    method: str
    args: dict[str, Any]
    time: float
    status: int
    error: str | None


def manifest_scopes() -> list[str]:
    """The bot scopes ``manifest.yml`` asks for (what an installed app's token has)."""
    manifest = yaml.safe_load(MANIFEST_PATH.read_text())
    return list(manifest["oauth_config"]["scopes"]["bot"])


@functools.cache
def shipped_required() -> dict[str, tuple[str, ...]]:
    """The shipped table of required non-token parameters per method."""
    table = json.loads(REQUIRED_ARGS_PATH.read_text(encoding="utf-8"))["required"]
    return {method: tuple(names) for method, names in table.items()}


@functools.cache
def load_required(spec_path: Path) -> dict[str, tuple[str, ...]]:
    """Required non-token parameters per method, from Slack's OpenAPI (swagger 2) spec.

    Cached: the spec is 1 MB and every test starts a fresh FakeSlack.
    """
    spec = json.loads(spec_path.read_text())
    required: dict[str, tuple[str, ...]] = {}
    for path, ops in spec["paths"].items():
        names: list[str] = []
        for op in ops.values():
            names += [
                p["name"]
                for p in op.get("parameters", [])
                if p.get("required") and p["name"] != "token"
            ]
        required[path.lstrip("/")] = tuple(dict.fromkeys(names))
    return required


class FakeSlack(LoopbackFake, SlackInspection, SlackSocketMode, SlackInstalls):
    """A fake Slack Web API server. Use as a context manager or call start()/stop().

    Parameters
    ----------
    bot_token:
        The only token accepted (``Authorization: Bearer ...``).
    app_token:
        The app-level token ``apps.connections.open`` (Socket Mode) accepts.
    team_id, bot_user_id, bot_id, app_id:
        Identity reported by ``auth.test`` and stamped on bot messages.
    methods:
        Methods accepted; anything else answers ``unknown_method``.
    trigger_ttl:
        Seconds a timestamped trigger_id is valid (Slack: 3); None disables expiry.
    scopes:
        The bot token's scopes, sent as ``x-oauth-scopes`` on every call made
        with it, as Slack does (default: those ``manifest.yml`` asks for).
    spec_path:
        Slack's OpenAPI spec to read required arguments from; default: the
        table shipped with the package (derived from that spec).
    client_id, client_secret:
        The app's OAuth credentials ``oauth.v2.access`` accepts (:mod:`.oauth`).
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-1111-2222-faketoken",
        app_token: str = "xapp-1-A0TUNEBOT-3333-fakeapptoken",
        team_id: str = "T0TUNEBOT",
        bot_user_id: str = "U0TUNEBOT",
        bot_id: str = "B0TUNEBOT",
        app_id: str = "A0TUNEBOT",
        methods: Iterable[str] = DEFAULT_METHODS,
        trigger_ttl: float | None = 3.0,
        scopes: Iterable[str] | None = None,
        spec_path: Path | None = None,
        client_id: str = "1111.2222",
        client_secret: str = "fake-client-secret",
    ) -> None:
        self.bot_token = bot_token
        self._installs_init(client_id=client_id, client_secret=client_secret)
        self.scopes = list(manifest_scopes() if scopes is None else scopes)
        self.app_token = app_token
        self.methods = set(methods)
        self.ws = Workspace(team_id=team_id, bot_user_id=bot_user_id, bot_id=bot_id, app_id=app_id)
        self._required = dict(shipped_required() if spec_path is None else load_required(spec_path))
        for method, extra in _EXTRA_REQUIRED.items():
            self._required[method] = tuple(dict.fromkeys(self._required.get(method, ()) + extra))
        self._impl = SlackMethods(self.ws, base_url=lambda: self.url, trigger_ttl=trigger_ttl)
        self._handlers = self._impl.table()
        self.faults = SlackFaults()
        self._calls: list[SlackCall] = []
        self._hooks: dict[str, dict[str, Any]] = {}
        self._latency: dict[str, float] = {}
        self.latency = 0.0
        self.files_read = True
        self._socket_init()
        self._server = LoopbackServer(self._app(), name="fake-slack")

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api/``: for ``WebClient(base_url=...)`` / SLACK_API_BASE_URL."""
        return f"{self._server.url}/api/"

    def env(self) -> dict[str, str]:
        """Environment for a bot process using this fake (SLACK_BOT_TOKEN, SLACK_API_BASE_URL)."""
        return {"SLACK_BOT_TOKEN": self.bot_token, "SLACK_API_BASE_URL": self.base_url}

    # ---- failure injection ----------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int | None = None,
        retry_after: float | None = 1,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        Parameters
        ----------
        method:
            A Web API method, or ``"upload"`` (the upload URL), ``"download"``
            (files-pri), ``"response_url"``.
        error:
            A Slack error code answered as HTTP 200 ``{"ok": false, "error": ...}``.
        status:
            HTTP status; defaults to 429 (``ratelimited`` + ``Retry-After``) when
            no ``error`` is given. 5xx answers a plain error body.
        retry_after:
            Seconds sent in ``Retry-After`` with a 429.
        """
        self.faults.fail_next(
            method, error=error, status=status, retry_after=retry_after, times=times
        )

    def rate_limit(self, method: str, *, per_minute: int) -> None:
        """Answer 429 once ``method`` had ``per_minute`` calls in the last 60 s (Slack tiers)."""
        self.faults.rate_limit(method, per_minute=per_minute)

    def set_latency(self, method: str, seconds: float) -> None:
        """Delay every call of ``method`` (``latency`` delays all calls)."""
        self._latency[method] = seconds

    def expire_trigger(self, trigger_id: str) -> None:
        """Make views.open with this trigger answer ``expired_trigger_id``."""
        with self.ws.lock:
            self._impl.expired_triggers.add(trigger_id)

    # ---- HTTP layer ------------------------------------------------------
    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/upload/v1/{token}", self._upload, methods=["POST"]),
                Route("/files-pri/{key}/download/{name}", self._download, methods=["GET"]),
                Route("/files-pri/{key}/{name}", self._download, methods=["GET"]),
                Route("/commands/{team}/{hook}/{secret}", self._response_url, methods=["POST"]),
                Route("/actions/{team}/{hook}/{secret}", self._response_url, methods=["POST"]),
                self._socket_route(),
            ]
        )

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        delay = self._latency.get(method, self.latency)
        if delay:
            await asyncio.sleep(delay)
        try:
            args, token = await self._read_args(request)
        except SlackError as exc:
            self._record(method, {}, 200, exc.error)
            return JSONResponse(exc.body())
        failure = self.faults.take(method)
        if failure is not None:
            self._record(
                method,
                args,
                failure.status,
                failure.error or ("ratelimited" if failure.status == 429 else None),
            )
            return failure_response(failure)
        try:
            body = self._dispatch(method, args, token)
        except SlackError as exc:
            self._record(method, args, 200, exc.error)
            body = exc.body()
            if exc.error == "unknown_method":
                body["req_method"] = method
            return JSONResponse(body)
        self._record(method, args, 200, None)
        # Slack answers every call made with a valid token with the token's
        # scopes in this header; `tunebot doctor` compares them with the manifest.
        return JSONResponse({"ok": True, **body}, headers={"x-oauth-scopes": ",".join(self.scopes)})

    async def _read_args(self, request: Request) -> tuple[dict[str, Any], str | None]:
        """Merge query string and body (form or JSON) as Slack does; pull the token out."""
        args: dict[str, Any] = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        raw = await request.body()
        if raw and content_type.startswith("application/json"):
            try:
                data = json.loads(raw)
            except json.JSONDecodeError:
                raise SlackError("invalid_json") from None
            if not isinstance(data, dict):
                raise SlackError("json_not_object")
            args.update(data)
        elif raw:
            form = await request.form()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
        token = args.pop("token", None)
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            token = header[len("Bearer ") :]
        elif header.startswith("Basic "):  # oauth.v2.access: the app's id and secret
            try:
                pair = base64.b64decode(header[len("Basic ") :], validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                raise SlackError("invalid_client_id") from None
            client_id, _, client_secret = pair.partition(":")
            args.setdefault("client_id", client_id)
            args.setdefault("client_secret", client_secret)
        return args, token

    def _dispatch(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if method == SOCKET_METHOD and method in self.methods:
            return self._open_socket(token)  # wants the app-level token, not the bot's
        if method == OAUTH_METHOD:
            return self._oauth_access(args)  # the app's client id and secret, no token
        if method not in self.methods or method not in self._handlers:
            raise SlackError("unknown_method")
        if not token:
            raise SlackError("not_authed")
        _ws, handlers = self._acting(token)
        for name in self._required.get(method, ()):
            if args.get(name) in (None, ""):
                code = _MISSING_ERRORS.get(name, "invalid_arguments")
                if code == "invalid_arguments":
                    raise SlackError(code, f"[ERROR] missing required field: {name}")
                raise SlackError(code)
        return handlers[method](args)

    def _record(self, method: str, args: dict[str, Any], status: int, error: str | None) -> None:
        with self.ws.lock:
            self._calls.append(SlackCall(method, copy.deepcopy(args), time.time(), status, error))

    async def _upload(self, request: Request) -> Response:
        data = await request.body()
        failure = self.faults.take("upload")
        if failure is not None:
            return failure_response(failure)
        key = request.path_params["token"]
        # The workspace that issued the URL (files.getUploadURLExternal) holds it.
        ws = next(
            (w for w in (self.ws, *(t.ws for t in self._teams.values())) if key in w.uploads),
            self.ws,
        )
        with ws.lock:
            upload = ws.uploads.get(key)
            if upload is None or upload.completed:
                return PlainTextResponse("invalid upload url", status_code=404)
            upload.content = data
        return PlainTextResponse(f"OK - {len(data)}")

    async def _download(self, request: Request) -> Response:
        failure = self.faults.take("download")
        if failure is not None:
            return failure_response(failure)
        file_id = request.path_params["key"].rsplit("-", 1)[-1]
        header = request.headers.get("authorization", "")
        # Real Slack answers a login page (200, text/html) instead of 401/403.
        try:
            ws, _ = self._acting(header.removeprefix("Bearer "))
        except SlackError:
            return HTMLResponse(_LOGIN_PAGE)
        if not header.startswith("Bearer ") or not self.files_read:
            return HTMLResponse(_LOGIN_PAGE)
        with self.ws.lock:
            info = ws.files.get(file_id)  # a file of the token's own workspace only
            if info is None or info["name"] != request.path_params["name"]:
                return HTMLResponse(_LOGIN_PAGE, status_code=404)
            content = ws.file_content[file_id]
        return Response(
            content,
            media_type=info["mimetype"],
            headers={"Content-Disposition": f'attachment; filename="{info["name"]}"'},
        )

    async def _response_url(self, request: Request) -> Response:
        failure = self.faults.take("response_url")
        if failure is not None:
            return failure_response(failure)
        try:
            payload = json.loads(await request.body())
        except json.JSONDecodeError:
            return PlainTextResponse("invalid_payload", status_code=400)
        url = str(request.url).split("?", 1)[0]
        for team in list(self._teams.values()):
            if url in team._hooks:
                return team._accept_response(url, payload)
        return self._accept_response(url, payload)

    # ---- waiting -----------------------------------------------------------
    def wait_for(
        self,
        predicate: Callable[[], T],
        *,
        timeout: float = 5.0,
        interval: float = 0.02,
        message: str = "condition",
    ) -> T:
        """Poll ``predicate`` until truthy and return its value (see :func:`waiting.wait_for`).

        Raises
        ------
        AssertionError
            After ``timeout`` seconds, listing the Web API calls seen, to debug the test.
        """

        def seen() -> str:
            return f"Slack calls: {[(c.method, c.error) for c in self.calls()]}"

        return wait_for(
            predicate, timeout=timeout, interval=interval, message=message, describe=seen
        )
