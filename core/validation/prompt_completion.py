"""Legacy prompt/completion examples (the format of OpenAI's first fine-tuning API).

Checked per example here; the ``prepare_data`` advice (common separator, common
ending, leading space) needs the whole file and lives in :mod:`legacy_advice`.
"""

from __future__ import annotations

from core.validation.content import (
    Problem,
    describe,
    special_token_problem,
    special_tokens_in,
)
from core.validation.context import CheckContext
from core.validation.outcome import Outcome

_KEYS = frozenset({"prompt", "completion"})
LEGACY_TAIL = 32


def check_prompt_completion(
    example: dict[str, object], *, line: int, digest: bytes, ctx: CheckContext
) -> Outcome:
    """Types and content of one prompt/completion example, and its tokens."""
    problems: list[Problem] = []
    texts: dict[str, str] = {}
    for key in ("prompt", "completion"):
        value = example.get(key)
        if key not in example:
            problems.append(
                (
                    "missing_field",
                    f"The example has no '{key}'.",
                    "prompt/completion examples need both fields.",
                )
            )
        elif type(value) is not str:
            problems.append(
                ("data_type", f"'{key}' must be a string, got {describe(value)}.", None)
            )
        else:
            texts[key] = value
            found = special_tokens_in(value, ctx.specials)
            if found:
                problems.append(special_token_problem(key, found))
    for key, text in texts.items():
        if not text.strip():
            fix = "Chat models need the prompt and the reply; fill in the text or drop the row."
            problems.append(("missing_content", f"The {key} is empty.", fix))
    unknown = [key for key in example if key not in _KEYS]
    if unknown:
        problems.append(
            (
                "example_unrecognized_key",
                "The example has key(s) "
                + ", ".join(repr(k) for k in unknown)
                + " besides prompt and completion.",
                "Remove them; they are not trained.",
            )
        )
    if len(texts) < 2:
        return Outcome(line, "prompt_completion", -1, 0, False, digest, tuple(problems))
    prompt, completion = texts["prompt"], texts["completion"]
    counted = ctx.counter.count_prompt_completion(prompt, completion)
    too_long = ctx.too_long(counted)
    if too_long:
        problems.append(too_long)
    legacy = (prompt[-LEGACY_TAIL:], completion[-LEGACY_TAIL:], completion[:1])
    return Outcome(
        line,
        "prompt_completion",
        counted.total,
        counted.trained,
        False,
        digest,
        tuple(problems),
        True,
        legacy,
    )
