"""Chat examples read back from a dataset's clean JSONL, split for evaluation.

The held-out split and the few-shot arm both need "the conversation up to the
last assistant turn" and "what the dataset says the answer is".
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import EvaluationError

MAX_FEW_SHOT = 5


@dataclass(frozen=True)
class Example:
    """A conversation without its final assistant turn, and that turn's text."""

    prompt: list[dict[str, Any]]
    reference: str

    @property
    def last_user_text(self) -> str:
        users = [m.get("content") for m in self.prompt if m.get("role") == "user"]
        return str(users[-1]) if users else ""


def _split(record: object) -> Example | None:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        return None
    messages = [m for m in record["messages"] if isinstance(m, dict)]
    if len(messages) < 2 or messages[-1].get("role") != "assistant":
        return None
    content = messages[-1].get("content")
    if not isinstance(content, str) or not content.strip():
        return None
    prompt = [{"role": m.get("role"), "content": m.get("content")} for m in messages[:-1]]
    if not any(m["role"] == "user" for m in prompt):
        return None
    return Example(prompt=prompt, reference=content)


def read_examples(path: str | Path, *, limit: int | None = None, seed: int = 0) -> list[Example]:
    """Examples from a chat JSONL file, a seeded sample of ``limit`` if there are more.

    The sample is seeded so a re-run evaluates the same prompts; file order is kept.

    Raises:
        EvaluationError: the file is missing or holds no usable chat example.
    """
    file = Path(path)
    if not file.is_file():
        raise EvaluationError(
            f"The evaluation file {file.name} is missing.",
            hint="Upload the dataset again or give another held-out file.",
        )
    examples: list[Example] = []
    with file.open(encoding="utf-8-sig", newline="\n") as handle:  # lines end at \n only
        for line in handle:
            if not line.strip():
                continue
            try:
                example = _split(json.loads(line))
            except json.JSONDecodeError:
                continue
            if example is not None:
                examples.append(example)
    if not examples:
        raise EvaluationError(
            f"{file.name} holds no chat example ending with an assistant answer.",
            hint="Held-out data must be chat JSONL like the training file.",
        )
    if limit is not None and len(examples) > limit:
        keep = sorted(random.Random(seed).sample(range(len(examples)), limit))
        examples = [examples[i] for i in keep]
    return examples


def shared_system_prompt(examples: list[Example]) -> str | None:
    """The system prompt every example uses, if they agree on one."""
    prompts = {
        str(m.get("content")) for ex in examples for m in ex.prompt[:1] if m.get("role") == "system"
    }
    has_all = all(ex.prompt and ex.prompt[0].get("role") == "system" for ex in examples)
    return prompts.pop() if has_all and len(prompts) == 1 else None


def few_shot_prompt(examples: list[Example]) -> str:
    """A system prompt holding up to five training examples.

    This is the "prompt design" alternative to fine-tuning: the base model sees
    what good answers look like instead of being trained on them.

    Raises:
        EvaluationError: no example was given.
    """
    chosen = examples[:MAX_FEW_SHOT]
    if not chosen:
        raise EvaluationError("No training examples to build a few-shot prompt from.")
    parts = []
    system = shared_system_prompt(chosen)
    if system:
        parts.append(system)
    parts.append("Answer the way these examples do.")
    for number, ex in enumerate(chosen, start=1):
        parts.append(f"Example {number}\nUser: {ex.last_user_text}\nAssistant: {ex.reference}")
    return "\n\n".join(parts)
