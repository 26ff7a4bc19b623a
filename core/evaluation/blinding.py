"""Blinding: which slot (A or B) each arm is shown in, drawn per prompt.

The draw is recorded on the prompt row so the reveal and the statistics can map
slots back to models later. The random source is injectable so tests can fix
it; by default it is the operating system's, which nobody can predict.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Position = Literal["A", "B"]
POSITIONS: tuple[Position, Position] = ("A", "B")


@dataclass(frozen=True)
class Assignment:
    """Where the candidate is shown; the opponent takes the other slot."""

    candidate_position: Position

    @property
    def opponent_position(self) -> Position:
        return other(self.candidate_position)

    def arm_at(self, position: str, *, candidate: str, opponent: str) -> str:
        """The arm shown at ``position``."""
        return candidate if position == self.candidate_position else opponent


def other(position: str) -> Position:
    """The other slot."""
    return "B" if position == "A" else "A"


def draw(rng: random.Random | None = None) -> Assignment:
    """A fair coin flip for the candidate's slot.

    Parameters:
        rng: the random source; ``None`` uses the operating system's.
    """
    source = rng if rng is not None else random.SystemRandom()
    return Assignment(candidate_position=source.choice(POSITIONS))
