"""The error a fake Slack method raises to answer ``{"ok": false, ...}``."""

from __future__ import annotations

__all__ = ["SlackError"]


class SlackError(Exception):
    """A Slack Web API error: ``error`` code plus optional response_metadata messages.

    Real Slack answers HTTP 200 with ``{"ok": false, "error": code}``; for
    argument and Block Kit problems it adds ``response_metadata.messages``
    such as ``"[ERROR] missing required field: channel"``.
    """

    def __init__(self, error: str, *messages: str) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body
