"""Signed requests from "Slack" to a bolt app in HTTP mode.

Why: end-to-end tests must enter the bot the way Slack does, through the
signature check (``X-Slack-Signature`` v0 HMAC-SHA256 over
``v0:{timestamp}:{body}``), with Slack's payload shapes: events as JSON,
slash commands as a form, interactions as a form field ``payload`` holding
JSON. Builders (in ``payloads``, re-exported here) are plain
functions so a test can tweak a payload; :class:`SlackEventSender` signs and
posts them.

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
import time
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

import httpx

from bot.fakeslack.payloads import (
    TEAM_ID,
    app_home_opened_event,
    block_actions_payload,
    event_callback,
    make_trigger_id,
    message_changed_event,
    message_event,
    slash_command_form,
    view_submission_payload,
)

if TYPE_CHECKING:
    from bot.fakeslack.api import FakeSlack

# The payload builders are re-exported: tests import everything from here.
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


def sign(body: bytes, *, signing_secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request-signing headers for ``body``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


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
            message_ts = (kwargs.get("message") or {}).get("ts")
            kwargs["response_url"] = self._response_url(
                "actions", kwargs.get("channel_id") or "", user_id, message_ts=message_ts
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

    def _response_url(
        self, kind: str, channel_id: str, user_id: str, *, message_ts: str | None = None
    ) -> str:
        if self.slack is None:
            return f"https://hooks.slack.com/{kind}/{TEAM_ID}/0/unused"
        return self.slack.new_response_url(
            kind=kind, channel=channel_id, user=user_id, message_ts=message_ts
        )
