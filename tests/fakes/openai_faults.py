"""Failure injection for the fake OpenAI API: queued failures and timed outages.

Why: the bot relies on the openai SDK's retries (429 with ``Retry-After``,
5xx) and must report a provider that stays down. Tests queue failures per
route (optionally for one job or one chat model) or declare an outage window.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, NamedTuple

from tests.fakes.openai_state import ApiError

__all__ = ["OpenAIFaults"]

_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"


class _Failure(NamedTuple):
    status: int
    retry_after: float | None
    body: dict[str, Any] | None


class OpenAIFaults:
    """Failures keyed by (route, job id or model); outages keyed by route (None: all)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[tuple[str, str | None], deque[_Failure]] = {}
        self._outages: dict[str | None, tuple[float, int]] = {}

    def fail_next(
        self,
        route: str,
        *,
        status: int,
        times: int,
        retry_after: float | None,
        target: str | None,
        error: dict[str, Any] | None,
    ) -> None:
        with self._lock:
            queue = self._queued.setdefault((route, target), deque())
            queue.extend([_Failure(status, retry_after, error)] * times)

    def fail_for(self, seconds: float, *, route: str | None, status: int) -> None:
        with self._lock:
            self._outages[route] = (time.monotonic() + seconds, status)

    def take(self, route: str, target: str | None) -> ApiError | None:
        """The failure due for this request (targeted first, then route-wide), if any."""
        with self._lock:
            for key in ((route, target), (route, None)) if target else ((route, None),):
                queue = self._queued.get(key)
                if queue:
                    return _as_error(queue.popleft())
            for scope in (route, None):
                outage = self._outages.get(scope)
                if outage and time.monotonic() < outage[0]:
                    return _as_error(_Failure(outage[1], None, None))
        return None


def _as_error(failure: _Failure) -> ApiError:
    headers = {}
    if failure.retry_after is not None:
        # The openai SDK reads retry-after-ms first, then Retry-After (seconds).
        headers = {
            "Retry-After": f"{failure.retry_after:g}",
            "retry-after-ms": str(int(failure.retry_after * 1000)),
        }
    if failure.status == 429:
        error = ApiError(
            429,
            "Rate limit reached for requests. Please try again later.",
            type_="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )
    elif failure.status >= 500:
        error = ApiError(failure.status, _SERVER_ERROR, type_="server_error", headers=headers)
    else:
        error = ApiError(failure.status, "Injected failure.", headers=headers)
    if failure.body is not None:
        error.body = {"error": failure.body}
    return error
