"""Polling helper: tests wait for an outcome instead of sleeping a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")

#: Every timeout is stretched by this much. Timeouts are upper bounds, so a passing
#: wait costs nothing more, but a 2-core machine under load ran these waits over
#: 3x slower than a quiet one, and a test must fail on behaviour, not on load.
LOAD_ALLOWANCE = 4.0


def wait_for(
    predicate: Callable[[], T],
    *,
    timeout: float = 5.0,
    interval: float = 0.02,
    message: str = "condition",
    describe: Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy; return that value.

    Parameters
    ----------
    predicate:
        Called every ``interval`` seconds.
    timeout:
        Seconds before giving up on a quiet machine (times ``LOAD_ALLOWANCE``).
    message:
        What is awaited, for the failure message.
    describe:
        Extra context for the failure message (e.g. the calls a fake saw).

    Raises
    ------
    AssertionError
        After ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout * LOAD_ALLOWANCE
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"; {describe()}" if describe else ""
            raise AssertionError(
                f"timed out after {timeout * LOAD_ALLOWANCE}s waiting for {message}{extra}"
            )
        time.sleep(interval)
