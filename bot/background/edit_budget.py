"""A sliding-window budget for Slack's rate-limited edits.

``chat.update`` is a Tier 3 method (about 50 calls per minute per workspace);
the scheduler spends at most ``TUNEBOT_EDITS_PER_MINUTE`` of them, and a 429
pauses all edits until Slack's ``Retry-After`` has passed. Kept per process:
with several replicas, give each a share of the workspace budget.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class EditBudget:
    """Workspace-wide ``chat.update`` allowance: at most ``per_minute`` in any 60 s.

    A 429 pauses every edit until Slack's ``Retry-After`` has passed.
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = max(1, per_minute)
        self._clock = clock
        self._spent: deque[float] = deque()
        self._paused_until = 0.0

    def available(self) -> bool:
        """Whether one more edit fits now (does not spend it)."""
        now = self._clock()
        while self._spent and now - self._spent[0] >= 60.0:
            self._spent.popleft()
        return now >= self._paused_until and len(self._spent) < self.per_minute

    def spend(self) -> None:
        self._spent.append(self._clock())

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)
