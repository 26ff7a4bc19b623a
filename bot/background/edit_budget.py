"""The workspace's budget of Slack's rate-limited edits, shared by every replica.

``chat.update`` is a Tier 3 method (about 50 calls per minute per workspace);
all replicas together spend at most ``TUNEBOT_EDITS_PER_MINUTE`` of them in
any 60 s, and a 429 pauses every replica's edits until Slack's
``Retry-After`` has passed. The count lives in the database
(:mod:`core.store.edit_budget`), because Slack counts per workspace, not per
process.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from core.store.datasets import utcnow
from core.store.edit_budget import edits_left, grant_edits, pause_edits

WORKSPACE = "default"
"""The budget's key in single-token mode (one workspace per database)."""


class EditBudget:
    """Workspace-wide ``chat.update`` allowance: at most ``per_minute`` in any 60 s."""

    def __init__(
        self,
        engine: Engine,
        per_minute: int,
        *,
        workspace: str = WORKSPACE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.per_minute = max(1, per_minute)
        self.workspace = workspace
        self._clock = clock

    def left(self) -> int:
        """Edits that fit now (a hint: another replica may take them first)."""
        return edits_left(
            self.engine, workspace=self.workspace, per_minute=self.per_minute, now=self._clock()
        )

    def take(self, wanted: int) -> int:
        """Spend up to ``wanted`` edits; returns how many were granted."""
        return grant_edits(
            self.engine,
            workspace=self.workspace,
            wanted=wanted,
            per_minute=self.per_minute,
            now=self._clock(),
        )

    def pause(self, seconds: float) -> None:
        pause_edits(self.engine, workspace=self.workspace, seconds=seconds, now=self._clock())
