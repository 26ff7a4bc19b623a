from __future__ import annotations

import random

from core.evaluation.blinding import Assignment, draw, other


def test_seeded_draws_repeat_and_both_slots_occur() -> None:
    seeded, reseeded = random.Random(7), random.Random(7)
    first = [draw(seeded).candidate_position for _ in range(20)]
    assert first == [draw(reseeded).candidate_position for _ in range(20)]
    rng = random.Random(1)
    slots = [draw(rng).candidate_position for _ in range(400)]
    assert 150 < slots.count("A") < 250


def test_default_source_is_unpredictable_but_fair() -> None:
    slots = [draw().candidate_position for _ in range(400)]
    assert set(slots) == {"A", "B"}


def test_assignment_maps_slots_to_arms() -> None:
    assignment = Assignment(candidate_position="B")
    assert assignment.opponent_position == "A"
    assert assignment.arm_at("B", candidate="ft", opponent="base") == "ft"
    assert assignment.arm_at("A", candidate="ft", opponent="base") == "base"
    assert other("A") == "B"
