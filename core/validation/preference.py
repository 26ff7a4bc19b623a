"""Preference (DPO) examples: ``input.messages``, ``preferred_output``, ``non_preferred_output``.

Files written for the first DPO release used ``preferred_completion`` /
``non_preferred_completion``; those are refused with the names to use instead.
"""

from __future__ import annotations

from core.errors import DatasetError
from core.tokens import ExampleTokens
from core.validation.chat import MessageChecker
from core.validation.content import Problem, describe
from core.validation.context import CheckContext
from core.validation.outcome import Outcome
from core.validation.tools import check_example_fields

_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
_INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
_OUTPUT_FIX = 'Write it as [{"role": "assistant", "content": "..."}].'


def check_preference(
    example: dict[str, object], *, line: int, digest: bytes, ctx: CheckContext
) -> Outcome:
    """Structure of one DPO example, and an estimate of its tokens."""
    problems: list[Problem] = []
    old = [key for key in ("preferred_completion", "non_preferred_completion") if key in example]
    if old:
        problems.append(
            (
                "preference_old_keys",
                "The example uses "
                + ", ".join(map(repr, old))
                + "; preference data now uses 'preferred_output' and "
                "'non_preferred_output'.",
                "Rename the keys to preferred_output / non_preferred_output, each a "
                "list holding one assistant message, and put the prompt in "
                "input.messages.",
            )
        )
    messages = _input_messages(example.get("input"), problems)
    if messages is not None:
        summary = MessageChecker(problems, ctx.specials).check(messages, prefix="input.messages")
        if not summary.has_user:
            problems.append(
                (
                    "missing_user_message",
                    "input.messages has no user message.",
                    "Preference examples start from a user prompt.",
                )
            )
    outputs = []
    for key in ("preferred_output", "non_preferred_output"):
        output = _output(example, key, problems, ctx)
        if output is not None:
            outputs.append(output)
    check_example_fields(example, allowed=_KEYS | frozenset(old), problems=problems)
    if messages is None or len(outputs) < 2:
        return Outcome(line, "preference", -1, 0, True, digest, tuple(problems))
    try:
        counted = ctx.counter.count_messages(messages + outputs[0] + outputs[1])
    except DatasetError:
        # A model's own template may refuse two answers in a row; each answer
        # after the prompt is what a preference trainer renders.
        try:
            first, second = (ctx.counter.count_messages(messages + o) for o in outputs[:2])
        except DatasetError as refused:
            problems.append((refused.code, refused.message, refused.hint))
            return Outcome(line, "preference", -1, 0, True, digest, tuple(problems))
        counted = ExampleTokens(first.total + second.total, first.trained + second.trained, True)
    too_long = ctx.too_long(counted)
    if too_long:
        problems.append(too_long)
    return Outcome(
        line, "preference", counted.total, counted.trained, True, digest, tuple(problems)
    )


def _input_messages(value: object, problems: list[Problem]) -> list[object] | None:
    if value is None:
        problems.append(
            (
                "missing_field",
                "The example has no 'input'.",
                'Add "input": {"messages": [...]} with the prompt.',
            )
        )
        return None
    if not isinstance(value, dict):
        problems.append(
            (
                "data_type",
                f"'input' must be an object, got {describe(value)}.",
                'Write "input": {"messages": [...]}.',
            )
        )
        return None
    messages = value.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append(
            (
                "missing_messages_list",
                "input.messages must be a non-empty list.",
                'Write "input": {"messages": [{"role": "user", "content": "..."}]}.',
            )
        )
        return None
    check_example_fields(value, allowed=_INPUT_KEYS, problems=problems)
    return messages


def _output(
    example: dict[str, object], key: str, problems: list[Problem], ctx: CheckContext
) -> list[object] | None:
    if key not in example:
        if not any(k.endswith("_completion") for k in example):
            problems.append(("missing_field", f"The example has no '{key}'.", _OUTPUT_FIX))
        return None
    value = example[key]
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        problems.append(
            (
                "invalid_preference",
                f"'{key}' must be a list holding one assistant message.",
                _OUTPUT_FIX,
            )
        )
        return None
    if value[0].get("role") != "assistant":
        problems.append(
            ("invalid_preference", f"{key}[0] must have role 'assistant'.", _OUTPUT_FIX)
        )
    MessageChecker(problems, ctx.specials).check(value, prefix=key)
    return value
