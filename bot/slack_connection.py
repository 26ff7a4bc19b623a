"""Reaching Slack at startup: retry while it is unreachable, stop when it says no.

Why: a bot started before the network (a container on boot, a Slack outage)
used to die with a 338-line traceback. A service waits instead, saying so in
one log line per attempt, with backoff. The one thing waiting cannot fix is a
token Slack rejects: that is :class:`SlackRejected`, which ``tunebot serve``
turns into one message and exit status 2.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from http.client import HTTPException
from typing import TypeVar

from slack_sdk.errors import SlackApiError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Slack's answers that mean "this token will never work"; retrying is pointless.
REJECTED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "no_permission",
        "missing_scope",
    }
)

FIRST_DELAY = 1.0
MAX_DELAY = 60.0


class SlackRejected(Exception):
    """Slack answered and refused the token; the message says which error."""


def until_reached(
    call: Callable[[], T],
    *,
    what: str,
    where: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, retried with exponential backoff (1 s doubling to 60 s) until Slack answers.

    Parameters:
        call: one attempt (``auth.test``, ``apps.connections.open`` + connect).
        what: the step, for the log line ("auth.test").
        where: the Slack URL tried, for the log line (never a token).
        sleep: the wait between attempts (tests need not pass it).

    Raises:
        SlackRejected: Slack answered with an authentication error.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            if error in REJECTED:
                raise SlackRejected(error) from None
            reason = f"Slack answered {error} (HTTP {exc.response.status_code})"
        # refused, unreachable, DNS, TLS, timeouts (URLError too), garbled answers
        except (OSError, HTTPException) as exc:
            reason = f"{type(exc).__name__}: {_short(exc)}"
        delay = min(MAX_DELAY, FIRST_DELAY * 2 ** (attempt - 1))
        logger.warning(
            "Slack unreachable (%s at %s, %s); attempt %d failed, retrying in %.0f s",
            what,
            where,
            reason,
            attempt,
            delay,
        )
        sleep(delay)


def _short(exc: Exception) -> str:
    text = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
