"""Signed requests from "Slack" to a bolt app in HTTP mode.

Why: end-to-end tests must enter the bot the way Slack does, through the
signature check (``X-Slack-Signature`` v0 HMAC-SHA256 over
``v0:{timestamp}:{body}``), with Slack's payload shapes: events as JSON,
slash commands as a form, interactions as a form field ``payload`` holding
JSON. Builders are plain functions (so a test can tweak a payload);
:class:`SlackEventSender` signs and posts them.

Example::

    sender = SlackEventSender(f"{bot_url}/slack/events", signing_secret=SECRET, slack=fake_slack)
    f = fake_slack.add_file("data.jsonl", b"...", user="U1", channel="C1")
    channel, message = fake_slack.file_message(f["id"])
    response = sender.event(message_event(channel, message))
    assert response.status_code == 200
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

import httpx

if TYPE_CHECKING:
    from tests.fakes.slack_api import FakeSlack

__all__ = [
    "SlackEventSender",
    "app_home_opened_event",
    "block_actions_payload",
    "event_callback",
    "make_trigger_id",
    "message_changed_event",
    "message_event",
    "sign",
    "slash_command_form",
    "view_submission_payload",
]

Signature = Literal["good", "bad", "stale", "missing"]
TEAM_ID = "T0TUNEBOT"
APP_ID = "A0TUNEBOT"
BOT_USER_ID = "U0TUNEBOT"


def make_trigger_id() -> str:
    """A trigger_id shaped like Slack's; the first part is the issue time in ms.

    FakeSlack uses that time to answer ``expired_trigger_id`` after 3 s.
    """
    return f"{int(time.time() * 1000)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"


def sign(body: bytes, *, signing_secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request-signing headers for ``body``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


# ---- events ------------------------------------------------------------------
def event_callback(
    event: dict[str, Any],
    *,
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
    event_id: str | None = None,
    bot_user_id: str = BOT_USER_ID,
) -> dict[str, Any]:
    """Wrap an inner event in Slack's Events API envelope."""
    return {
        "token": "verification-token-deprecated",
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_urlsafe(24)}",
    }


def message_event(
    channel: str, message: dict[str, Any], *, channel_type: str | None = None
) -> dict[str, Any]:
    """A ``message`` event for a stored message (e.g. from ``FakeSlack.file_message``).

    Messages with files keep subtype ``file_share``; thread replies keep ``thread_ts``.
    """
    kind = channel_type or {"C": "channel", "G": "group", "D": "im"}.get(channel[:1], "channel")
    event = {
        k: v
        for k, v in message.items()
        if k not in ("reply_count", "reply_users", "reply_users_count", "latest_reply", "reactions")
    }
    event.update(
        {"type": "message", "channel": channel, "event_ts": message["ts"], "channel_type": kind}
    )
    return event


def message_changed_event(
    channel: str, message: dict[str, Any], *, new_text: str
) -> dict[str, Any]:
    """The ``message_changed`` event Slack sends when ``message`` is edited (bots ignore it)."""
    edited = {
        **message,
        "text": new_text,
        "edited": {"user": message.get("user"), "ts": f"{time.time():.6f}"},
    }
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": channel,
        "channel_type": {"C": "channel", "G": "group", "D": "im"}.get(channel[:1], "channel"),
        "ts": f"{time.time():.6f}",
        "event_ts": f"{time.time():.6f}",
        "message": edited,
        "previous_message": message,
    }


def app_home_opened_event(
    user: str, *, channel: str | None = None, tab: str = "home", view: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``app_home_opened``; ``view`` is absent the first time a user opens the Home tab."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user,
        "channel": channel or "D" + user[1:],
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = view
    return event


# ---- commands and interactions -------------------------------------------------
def slash_command_form(
    text: str,
    *,
    user_id: str,
    channel_id: str,
    response_url: str,
    command: str = "/finetune",
    user_name: str | None = None,
    channel_name: str = "fine-tuning",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    api_app_id: str = APP_ID,
) -> dict[str, str]:
    """The form fields Slack posts for a slash command."""
    return {
        "token": "verification-token-deprecated",
        "team_id": team_id,
        "team_domain": "tunebot-test",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or make_trigger_id(),
    }


def _user(user_id: str, team_id: str) -> dict[str, str]:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id}


def block_actions_payload(
    action_id: str,
    *,
    user_id: str,
    value: str | None = None,
    block_id: str | None = None,
    channel_id: str | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    response_url: str | None = None,
    action_type: str = "button",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    api_app_id: str = APP_ID,
) -> dict[str, Any]:
    """A ``block_actions`` payload: a button click in a message or in a view.

    Pass ``message`` (the stored message holding the button) and ``channel_id``
    for a message button, or ``view`` for a button inside a modal/home tab.
    """
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id or secrets.token_hex(3),
        "type": action_type,
        "action_ts": f"{time.time():.6f}",
    }
    if action_type == "button":
        action["text"] = {"type": "plain_text", "text": action_id, "emoji": True}
        if value is not None:
            action["value"] = value
    elif value is not None:
        action["selected_option"] = {"text": {"type": "plain_text", "text": value}, "value": value}
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": "verification-token-deprecated",
        "trigger_id": trigger_id or make_trigger_id(),
        "team": {"id": team_id, "domain": "tunebot-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [action],
        "state": {"values": {}},
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "V0")}
        payload["view"] = view
    else:
        if channel_id is None or message is None:
            raise ValueError("a message button needs channel_id and message")
        payload["container"] = {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        if "thread_ts" in message:
            payload["container"]["thread_ts"] = message["thread_ts"]
        payload["channel"] = {"id": channel_id, "name": "fine-tuning"}
        payload["message"] = message
        payload["response_url"] = response_url or "https://hooks.slack.com/actions/unused"
    return payload


def view_submission_payload(
    callback_id: str,
    values: dict[str, dict[str, Any]],
    *,
    user_id: str,
    private_metadata: str = "",
    view: dict[str, Any] | None = None,
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
) -> dict[str, Any]:
    """A ``view_submission`` payload.

    ``values`` is ``state.values``: ``{block_id: {action_id: {"type": ..., "value": ...}}}``.
    ``view`` (e.g. from ``FakeSlack.views()``) supplies id, blocks and hash when given.
    """
    base = dict(view or {})
    base.update(
        {
            "id": base.get("id", f"V{secrets.token_hex(4).upper()}"),
            "team_id": team_id,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
            "hash": base.get("hash", f"{int(time.time())}.{secrets.token_hex(4)}"),
            "title": base.get("title", {"type": "plain_text", "text": "Fine-tune"}),
            "blocks": base.get("blocks", []),
            "app_id": api_app_id,
            "bot_id": "B0TUNEBOT",
        }
    )
    base.setdefault("root_view_id", base["id"])
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "tunebot-test"},
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": "verification-token-deprecated",
        "trigger_id": make_trigger_id(),
        "view": base,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


class SlackEventSender:
    """Signs and POSTs Slack requests to a bolt app.

    Parameters
    ----------
    url:
        The app's request URL, e.g. ``http://127.0.0.1:3000/slack/events``.
    signing_secret:
        The app's signing secret.
    slack:
        The FakeSlack the app talks to; used to issue response_urls that it records.
    timeout:
        HTTP timeout; Slack gives up after 3 s, tests allow more for slow CI.
    """

    def __init__(
        self,
        url: str,
        *,
        signing_secret: str,
        slack: FakeSlack | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.slack = slack
        self._client = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def post(
        self,
        body: bytes,
        *,
        content_type: str,
        signature: Signature = "good",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a raw body; ``signature`` "bad"/"stale"/"missing" to test rejection (bolt: 401)."""
        timestamp = int(time.time()) - (600 if signature == "stale" else 0)
        signed = sign(body, signing_secret=self.signing_secret, timestamp=timestamp)
        if signature == "bad":
            signed["X-Slack-Signature"] = "v0=" + "0" * 64
        if signature == "missing":
            signed = {}
        all_headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **signed,
            **(headers or {}),
        }
        return self._client.post(self.url, content=body, headers=all_headers)

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        signature: Signature = "good",
    ) -> httpx.Response:
        """Send an event wrapped by :func:`event_callback`; ``retry_num`` adds retry headers."""
        envelope = event_callback(event, event_id=event_id)
        return self.send_envelope(
            envelope, retry_num=retry_num, retry_reason=retry_reason, signature=signature
        )

    def send_envelope(
        self,
        envelope: dict[str, Any],
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        signature: Signature = "good",
    ) -> httpx.Response:
        """Send an already wrapped event (to resend the same event_id as a retry)."""
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.post(
            json.dumps(envelope).encode(),
            content_type="application/json",
            signature=signature,
            headers=headers,
        )

    def command(
        self,
        text: str,
        *,
        user_id: str,
        channel_id: str,
        command: str = "/finetune",
        signature: Signature = "good",
        **fields: str,
    ) -> httpx.Response:
        """Send a slash command; its response_url is issued by the FakeSlack (if given)."""
        response_url = self._response_url("commands", channel_id, user_id)
        form = slash_command_form(
            text,
            user_id=user_id,
            channel_id=channel_id,
            command=command,
            response_url=response_url,
            **fields,
        )
        return self.post(
            urlencode(form).encode(),
            content_type="application/x-www-form-urlencoded",
            signature=signature,
        )

    def action(
        self, action_id: str, *, user_id: str, signature: Signature = "good", **kwargs: Any
    ) -> httpx.Response:
        """Send a ``block_actions`` click (kwargs as :func:`block_actions_payload`)."""
        if kwargs.get("view") is None and "response_url" not in kwargs:
            kwargs["response_url"] = self._response_url(
                "actions", kwargs.get("channel_id") or "", user_id
            )
        return self.interaction(
            block_actions_payload(action_id, user_id=user_id, **kwargs), signature=signature
        )

    def view_submission(
        self,
        callback_id: str,
        values: dict[str, dict[str, Any]],
        *,
        user_id: str,
        signature: Signature = "good",
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a modal submission (kwargs as :func:`view_submission_payload`)."""
        payload = view_submission_payload(callback_id, values, user_id=user_id, **kwargs)
        return self.interaction(payload, signature=signature)

    def interaction(
        self, payload: dict[str, Any], *, signature: Signature = "good"
    ) -> httpx.Response:
        """Send any interaction payload as Slack does: form field ``payload`` holding JSON."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(
            body, content_type="application/x-www-form-urlencoded", signature=signature
        )

    def _response_url(self, kind: str, channel_id: str, user_id: str) -> str:
        if self.slack is None:
            return f"https://hooks.slack.com/{kind}/{TEAM_ID}/0/unused"
        return self.slack.new_response_url(kind=kind, channel=channel_id, user=user_id)
