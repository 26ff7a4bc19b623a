"""Socket Mode for ``FakeSlack``: ``apps.connections.open`` and the WebSocket it hands out.

Why: Socket Mode is how firewalled teams run ``tunebot serve``, so it must be
tested through slack_sdk's real Socket Mode client, not by calling bolt
directly. The fake behaves like Slack: ``apps.connections.open`` wants the
app-level token (``xapp-``; a bot token is ``not_allowed_token_type``) and
returns a one-time ``ticket`` URL; the WebSocket refuses unknown or used
tickets, greets with ``hello``, carries envelopes (``events_api``,
``slash_commands``, ``interactive``) and records the client's acks, which
Slack needs within 3 seconds.

Example::

    with FakeSlack() as slack:
        ...  # run the bot with slack.socket_env()
        slack.wait_for_socket_client()
        envelope_id = slack.socket_send_event(message_event(channel, message))
        ack = slack.wait_for_ack(envelope_id)
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.fakeslack.errors import SlackError
from bot.fakeslack.payloads import event_callback, slash_command_form
from bot.fakeslack.waiting import wait_for

if TYPE_CHECKING:
    from bot.fakeslack.workspace import Workspace

__all__ = ["SOCKET_METHOD", "SlackSocketMode", "SocketAck"]

SOCKET_METHOD = "apps.connections.open"
# Slack drops an envelope (and retries an event) when it is not acked in time.
ACK_DEADLINE = 3.0
# WebSocket close code for a refused connection (RFC 6455 "policy violation").
_POLICY_VIOLATION = 1008


class SocketAck(NamedTuple):
    """One ack the client sent: ``payload`` is None when it acked without one."""

    envelope_id: str
    payload: dict[str, Any] | None
    seconds: float  # from sending the envelope to receiving the ack; -1 if never sent


class SlackSocketMode:
    """Mixin: FakeSlack provides ``ws``, ``url``, ``new_response_url`` and ``app_token``."""

    ws: Workspace
    app_token: str

    if TYPE_CHECKING:  # provided by FakeSlack

        @property
        def url(self) -> str: ...

        def new_response_url(
            self, *, channel: str, user: str, kind: str = ..., message_ts: str | None = ...
        ) -> str: ...

    def _socket_init(self) -> None:
        self._socket_lock = threading.Lock()
        self._tickets: set[str] = set()
        self._sockets: list[tuple[WebSocket, asyncio.AbstractEventLoop]] = []
        self._sent: dict[str, float] = {}
        self._acks: list[SocketAck] = []
        self.socket_connections = 0

    def _socket_route(self) -> WebSocketRoute:
        return WebSocketRoute("/socket-mode/link", self._socket_endpoint)

    def socket_env(self) -> dict[str, str]:
        """Environment for ``tunebot serve`` in Socket Mode against this fake."""
        return {
            # A mixin of FakeSlack, which defines bot_token.
            "SLACK_BOT_TOKEN": self.bot_token,  # type: ignore[attr-defined]
            "SLACK_APP_TOKEN": self.app_token,
            "SLACK_API_BASE_URL": f"{self.url}/api/",
        }

    # ---- apps.connections.open ---------------------------------------------
    def _open_socket(self, token: str | None) -> dict[str, Any]:
        """Issue a one-time WebSocket URL, as Slack does, for the app-level token only."""
        if not token:
            raise SlackError("not_authed")
        if not token.startswith("xapp-"):
            raise SlackError("not_allowed_token_type")
        if token != self.app_token:
            raise SlackError("invalid_auth")
        ticket = secrets.token_hex(16)
        with self._socket_lock:
            self._tickets.add(ticket)
        ws_url = self.url.replace("http://", "ws://", 1)
        return {"url": f"{ws_url}/socket-mode/link?ticket={ticket}&app_id={self.ws.app_id}"}

    # ---- the WebSocket ------------------------------------------------------
    async def _socket_endpoint(self, websocket: WebSocket) -> None:
        ticket = websocket.query_params.get("ticket", "")
        with self._socket_lock:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)
        if not valid:
            # Before accept: the handshake fails, as Slack's does for a bad ticket.
            await websocket.close(code=_POLICY_VIOLATION)
            return
        await websocket.accept()
        entry = (websocket, asyncio.get_running_loop())
        with self._socket_lock:
            self._sockets.append(entry)
            self.socket_connections += 1
            count = len(self._sockets)
        await websocket.send_text(json.dumps(self._hello(count)))
        try:
            while True:
                self._record_ack(await websocket.receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            with self._socket_lock:
                self._sockets.remove(entry)

    def _hello(self, count: int) -> dict[str, Any]:
        return {
            "type": "hello",
            "num_connections": count,
            "debug_info": {
                "host": "applink-fake-1",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.ws.app_id},
        }

    def _record_ack(self, text: str) -> None:
        """Keep every ack; anything that is not ``{"envelope_id": ...}`` fails loudly."""
        message = json.loads(text)
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not isinstance(envelope_id, str):
            raise ValueError(f"Socket Mode client sent a non-ack message: {text[:200]}")
        with self._socket_lock:
            sent = self._sent.get(envelope_id)
            seconds = time.monotonic() - sent if sent is not None else -1.0
            self._acks.append(SocketAck(envelope_id, message.get("payload"), seconds))

    # ---- what tests call ------------------------------------------------------
    def socket_connected(self) -> bool:
        """Whether a Socket Mode client is connected now (it got ``hello``)."""
        with self._socket_lock:
            return bool(self._sockets)

    def wait_for_socket_client(self, *, timeout: float = 20.0) -> None:
        """Wait until a Socket Mode client is connected."""
        wait_for(self.socket_connected, timeout=timeout, message="a Socket Mode client to connect")

    def socket_send(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool
    ) -> str:
        """Send one envelope to the newest connection; returns its ``envelope_id``."""
        envelope_id = f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(6)}"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        with self._socket_lock:
            if not self._sockets:
                raise RuntimeError("no Socket Mode client is connected")
            websocket, loop = self._sockets[-1]
            self._sent[envelope_id] = time.monotonic()
        sending = asyncio.run_coroutine_threadsafe(websocket.send_text(json.dumps(envelope)), loop)
        sending.result(timeout=5)
        return envelope_id

    def socket_send_event(self, event: dict[str, Any], *, event_id: str | None = None) -> str:
        """Send an Events API event (wrapped by :func:`event_callback`)."""
        payload = event_callback(event, event_id=event_id, team_id=self.ws.team_id)
        return self.socket_send("events_api", payload, accepts_response_payload=False)

    def socket_send_command(
        self, text: str, *, user_id: str, channel_id: str, command: str = "/finetune"
    ) -> str:
        """Send a slash command; its response_url is issued by this fake."""
        response_url = self.new_response_url(kind="commands", channel=channel_id, user=user_id)
        form = slash_command_form(
            text,
            user_id=user_id,
            channel_id=channel_id,
            command=command,
            response_url=response_url,
            team_id=self.ws.team_id,
        )
        return self.socket_send("slash_commands", dict(form), accepts_response_payload=True)

    def socket_send_interaction(self, payload: dict[str, Any]) -> str:
        """Send an interaction payload (e.g. :func:`block_actions_payload`)."""
        return self.socket_send("interactive", payload, accepts_response_payload=True)

    def acks(self) -> list[SocketAck]:
        """Every ack received, oldest first."""
        with self._socket_lock:
            return list(self._acks)

    def wait_for_ack(self, envelope_id: str, *, timeout: float = 5.0) -> SocketAck:
        """The client's ack of ``envelope_id`` (AssertionError after ``timeout``)."""
        found = wait_for(
            lambda: [a for a in self.acks() if a.envelope_id == envelope_id],
            timeout=timeout,
            message=f"the ack of envelope {envelope_id}",
        )
        return found[0]
