"""Failure injection for the fake Slack: queued failures and per-method rate limits.

Why: the bot must survive Slack answering 429 with ``Retry-After`` (slack_sdk's
``RateLimitErrorRetryHandler`` retries), arbitrary ``{"ok": false}`` errors and
5xx. Tests queue failures per method, or give a method a Slack-like per-minute
budget (e.g. ``chat.update`` is Tier 3, about 50 per minute).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import NamedTuple

from starlette.responses import JSONResponse, PlainTextResponse, Response

__all__ = ["Failure", "SlackFaults", "failure_response"]


class Failure(NamedTuple):
    """One injected answer: HTTP status, Slack error code, Retry-After seconds."""

    status: int
    error: str | None
    retry_after: float | None


class SlackFaults:
    """Queued failures and rate-limit windows per method (or "upload", "download", ...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[str, deque[Failure]] = {}
        self._limits: dict[str, tuple[int, deque[float]]] = {}

    def fail_next(
        self,
        method: str,
        *,
        error: str | None,
        status: int | None,
        retry_after: float | None,
        times: int,
    ) -> None:
        status = status if status is not None else (200 if error else 429)
        with self._lock:
            self._queued.setdefault(method, deque()).extend(
                [Failure(status, error, retry_after)] * times
            )

    def rate_limit(self, method: str, *, per_minute: int) -> None:
        with self._lock:
            self._limits[method] = (per_minute, deque())

    def take(self, key: str) -> Failure | None:
        """The failure due for this call, if any; counts the call against a rate limit."""
        with self._lock:
            queue = self._queued.get(key)
            if queue:
                return queue.popleft()
            limit = self._limits.get(key)
            if limit is None:
                return None
            per_minute, stamps = limit
            now = time.monotonic()
            while stamps and now - stamps[0] >= 60:
                stamps.popleft()
            if len(stamps) >= per_minute:
                return Failure(429, None, max(1, int(60 - (now - stamps[0])) + 1))
            stamps.append(now)
            return None


def failure_response(failure: Failure) -> Response:
    """The HTTP answer Slack gives for ``failure``."""
    if failure.status == 429:
        # Slack sends whole seconds; slack_sdk's handler parses it with int().
        headers = {"Retry-After": str(int(failure.retry_after or 0))}
        return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429, headers=headers)
    if failure.status >= 500:
        return PlainTextResponse("Internal Server Error", status_code=failure.status)
    return JSONResponse(
        {"ok": False, "error": failure.error or "fatal_error"}, status_code=failure.status
    )
