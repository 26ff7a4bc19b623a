"""Polling helper: tests wait for an outcome instead of sleeping a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


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
        Seconds before giving up.
    message:
        What is awaited, for the failure message.
    describe:
        Extra context for the failure message (e.g. the calls a fake saw).

    Raises
    ------
    AssertionError
        After ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"; {describe()}" if describe else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {message}{extra}")
        time.sleep(interval)
