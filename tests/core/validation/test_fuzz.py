"""Random values of every JSON type at every level of an example never crash validation."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.core.validation.helpers import good_rows, run, write_jsonl

KEYS = [
    "messages",
    "role",
    "content",
    "weight",
    "tool_calls",
    "tool_call_id",
    "name",
    "tools",
    "function",
    "arguments",
    "id",
    "type",
    "prompt",
    "completion",
    "text",
    "input",
    "preferred_output",
    "non_preferred_output",
    "functions",
    "parallel_tool_calls",
]
STRINGS = [
    "user",
    "assistant",
    "system",
    "tool",
    "function",
    "developer",
    "",
    " x ",
    "<|endoftext|>",
    "{}",
    '{"a": 1}',
    "call_1",
    '=HYPERLINK("x")',
    "\ud83d",
    "é",
]


def value(rng: random.Random, depth: int) -> object:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False, 0, 1, 2, -1, 1.5, 10**30])
    if kind in (2, 3, 4):
        return rng.choice(STRINGS)
    if kind in (5, 6):
        return {rng.choice(KEYS): value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [value(rng, depth + 1) for _ in range(rng.randrange(4))]


def example(rng: random.Random) -> object:
    base = json.loads(json.dumps(good_rows(1, start=rng.randrange(10**6))[0]))
    message = rng.choice(base["messages"])
    target = rng.choice([base, message, base])
    target[rng.choice(KEYS)] = value(rng, 0)
    return base if rng.random() < 0.9 else value(rng, 0)


def test_random_examples_never_crash(tmp_path: Path) -> None:
    rng = random.Random(1234)
    rows: list[object] = [json.dumps(example(rng)) for _ in range(600)]  # raw lines
    path = write_jsonl(tmp_path / "fuzz.jsonl", rows)
    report = run(path, fix_path=tmp_path / "fixed.jsonl")
    assert report.examples == 600
    assert report.errors
    fixed = run(tmp_path / "fixed.jsonl")
    assert fixed.errors == [] and fixed.examples == report.fixed_examples
