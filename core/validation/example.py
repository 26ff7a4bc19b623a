"""Check one example, whatever its format: the function worker processes run.

Everything here is pure (data in, :class:`Outcome` out) so it runs the same in
the parent for small files and in a process pool for large ones.
"""

from __future__ import annotations

import json

from core.datasets.formats import detect_example_format
from core.datasets.jsonl import decode_line, overlong_problem
from core.datasets.limits import MAX_LINE_BYTES
from core.datasets.records import ReadProblem
from core.errors import DatasetError
from core.validation.chat import MessageChecker
from core.validation.codes import severity
from core.validation.content import (
    Problem,
    describe,
    is_padded,
    padding_problem,
    special_token_problem,
    special_tokens_in,
)
from core.validation.context import CheckContext
from core.validation.fingerprint import NO_FINGERPRINT, fingerprint
from core.validation.outcome import Outcome
from core.validation.preference import check_preference
from core.validation.prompt_completion import check_prompt_completion
from core.validation.tools import check_example_fields

_CHAT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
_FORMAT_HINT = (
    'Write chat examples as {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}; '
    "other formats: prompt/completion, input/preferred_output/non_preferred_output, or text."
)


LONE_SURROGATE = ReadProblem(
    "not_utf8",
    "The example holds a lone UTF-16 surrogate escape (such as \\ud83d without its pair), "
    "which is not valid Unicode text.",
    "Write the character itself, or both halves of its surrogate pair.",
)


def check_value(data: object, *, line: int, ctx: CheckContext) -> Outcome:
    """Check an example decoded by a non-JSONL reader."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return problem_outcome(line, LONE_SURROGATE)
    except (RecursionError, ValueError):
        pass
    return check_example(data, line=line, ctx=ctx)


def has_lone_surrogate(raw: bytes, value: object) -> bool:
    """Whether a decoded line holds an unpaired surrogate (only looked for when the raw
    line has a ``\\ud..`` escape, so ordinary lines cost two byte searches)."""
    if b"\\ud" not in raw and b"\\uD" not in raw:
        return False
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (RecursionError, ValueError):
        return False
    return False


def check_line(raw: bytes, line: int, ctx: CheckContext) -> Outcome | None:
    """Check one JSONL line; ``None`` for a blank line."""
    stripped = raw.strip()
    if not stripped:
        return None
    if len(stripped) > MAX_LINE_BYTES:
        return problem_outcome(line, overlong_problem(len(stripped)))
    data, problem = decode_line(stripped)
    if problem is not None:
        return problem_outcome(line, problem)
    if has_lone_surrogate(stripped, data):
        return problem_outcome(line, LONE_SURROGATE)
    return check_example(data, line=line, ctx=ctx)


def check_chunk(first_line: int, data: bytes, ctx: CheckContext) -> list[Outcome]:
    """Check a chunk of whole JSONL lines (the unit of work of the process pool)."""
    outcomes: list[Outcome] = []
    if not data.strip():
        return outcomes
    for offset, raw in enumerate(data.split(b"\n")):
        outcome = check_line(raw, first_line + offset, ctx)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def problem_outcome(line: int, problem: ReadProblem) -> Outcome:
    """An example that could not even be read."""
    return Outcome(
        line, "unknown", -1, 0, False, b"", ((problem.code, problem.message, problem.fix),)
    )


def check_example(data: object, *, line: int, ctx: CheckContext) -> Outcome:
    """Detect the example's format, run its checks, and fingerprint it when it has no error.

    ``data`` is consumed: its texts are stripped in place for the fingerprint.
    """
    outcome = _checked(data, line=line, ctx=ctx)
    if any(severity(code) == "error" for code, _message, _fix in outcome.problems):
        return outcome
    o = outcome  # rebuilt by hand: dataclasses.replace costs more than the fingerprint
    return Outcome(
        o.line,
        o.format,
        o.tokens,
        o.trained,
        o.estimated,
        fingerprint(data),
        o.problems,
        o.has_system,
        o.legacy,
    )


def _checked(data: object, *, line: int, ctx: CheckContext) -> Outcome:
    digest = NO_FINGERPRINT
    if not isinstance(data, dict):
        message = f"The example must be a JSON object, got {describe(data)}."
        return _unknown(line, digest, "data_type", message)
    try:
        fmt = detect_example_format(data)
        if fmt == "chat":
            return check_chat(data, line=line, digest=digest, ctx=ctx)
        if fmt == "prompt_completion":
            return check_prompt_completion(data, line=line, digest=digest, ctx=ctx)
        if fmt == "preference":
            return check_preference(data, line=line, digest=digest, ctx=ctx)
        if fmt == "text":
            return check_text(data, line=line, digest=digest, ctx=ctx)
    except RecursionError:
        return _unknown(line, digest, "data_type", "The example is nested too deeply to check.")
    keys = ", ".join(repr(k) for k in list(data)[:8]) or "none"
    return _unknown(
        line, digest, "unknown_format", f"The example is in no known format (keys: {keys})."
    )


def _unknown(line: int, digest: bytes, code: str, message: str) -> Outcome:
    """An example of no checkable format: one error, no tokens counted."""
    return Outcome(line, "unknown", -1, 0, False, digest, ((code, message, _FORMAT_HINT),))


# (code, message, fix) of the example-level chat problems, as constants: they
# are the same text for every example that has them.
_DEPRECATED = (
    "deprecated_functions",
    "The example uses the deprecated 'functions' / 'function_call' / role 'function'.",
    "Use 'tools', assistant 'tool_calls' and role 'tool' messages.",
)
_NO_ASSISTANT = (
    "example_missing_assistant_message",
    "The example has no assistant message.",
    "Add the assistant reply the model should learn.",
)
_NOTHING_TRAINED = (
    "no_trained_messages",
    "Every assistant message has weight 0, so nothing in this example is trained.",
    "Set weight 1 on at least one.",
)
_NO_USER = (
    "missing_user_message",
    "The example has no user message.",
    "Add the user turn the assistant answers.",
)


def check_chat(
    example: dict[str, object], *, line: int, digest: bytes, ctx: CheckContext
) -> Outcome:
    """One chat example: messages, tools, tokens."""
    problems: list[Problem] = []
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        message = f"'messages' must be a non-empty list, got {describe(messages)}."
        problems.append(("missing_messages_list", message, _FORMAT_HINT))
        return Outcome(line, "chat", -1, 0, False, digest, tuple(problems))
    checker = MessageChecker(problems, ctx.specials)
    summary = checker.check(messages)
    deprecated = checker.deprecated
    if len(example) > 1:
        uses_functions = check_example_fields(example, allowed=_CHAT_KEYS, problems=problems)
        deprecated = deprecated or uses_functions
    if deprecated:
        problems.append(_DEPRECATED)
    if not summary.has_assistant:
        problems.append(_NO_ASSISTANT)
    elif not summary.has_trained:
        problems.append(_NOTHING_TRAINED)
    if not summary.has_user:
        problems.append(_NO_USER)
    if summary.has_assistant:
        _check_ending(messages, problems, worker=ctx.worker)
    tools = example.get("tools")
    functions = example.get("functions")
    try:
        counted = ctx.counter.count_messages(
            messages,
            tools=tools if isinstance(tools, list) else None,
            functions=functions if isinstance(functions, list) else None,
        )
    except DatasetError as refused:  # the model's own template cannot render it
        # An example with errors already found is reported by those (they explain
        # why the template failed); otherwise this is what stops it from training.
        if not any(severity(code) == "error" for code, _, _ in problems):
            problems.append((refused.code, refused.message, refused.hint))
        return Outcome(line, "chat", -1, 0, False, digest, tuple(problems), summary.has_system)
    too_long = ctx.too_long(counted)
    if too_long:
        problems.append(too_long)
    return Outcome(
        line,
        "chat",
        counted.total,
        counted.trained,
        counted.estimated,
        digest,
        tuple(problems),
        summary.has_system,
    )


def _check_ending(messages: list[object], problems: list[Problem], *, worker: bool) -> None:
    """What follows the last assistant reply, and (for the worker) what precedes it."""
    last = messages[-1]
    role = last.get("role") if isinstance(last, dict) else None
    if role != "assistant":
        shown = role if isinstance(role, str) else "non-assistant"
        if worker:
            problems.append(
                (
                    "last_message_not_assistant",
                    f"The example ends with a {shown} message; the worker trains the final "
                    "assistant reply, so the example must end with one.",
                    "End the example with the assistant reply, or drop the messages after it.",
                )
            )
        else:
            problems.append(
                (
                    "trailing_messages",
                    f"The example ends with a {shown} message after the last assistant reply; "
                    "it is billed but never trained.",
                    "Drop the messages after the last assistant reply.",
                )
            )
    elif worker and len(messages) == 1:
        problems.append(
            (
                "no_prompt_before_answer",
                "The example is a lone assistant message; the worker trains a reply to the "
                "messages before it, and there are none.",
                "Add the user message the reply answers.",
            )
        )


def check_text(
    example: dict[str, object], *, line: int, digest: bytes, ctx: CheckContext
) -> Outcome:
    """``{"text": ...}`` for continued pre-training on the worker."""
    text = example.get("text")
    problems: list[Problem] = []
    if type(text) is not str:
        problems.append(("data_type", f"'text' must be a string, got {describe(text)}.", None))
        return Outcome(line, "text", -1, 0, False, digest, tuple(problems))
    if not text.strip():
        problems.append(("missing_content", "The text is empty.", "Drop empty examples."))
    found = special_tokens_in(text, ctx.specials)
    if found:
        problems.append(special_token_problem("text", found))
    if is_padded(text):
        problems.append(padding_problem("text", 1))
    if len(example) > 1:
        check_example_fields(example, allowed=frozenset({"text"}), problems=problems)
    counted = ctx.counter.count_document(text)
    too_long = ctx.too_long(counted)
    if too_long:
        problems.append(too_long)
    return Outcome(
        line, "text", counted.total, counted.trained, counted.estimated, digest, tuple(problems)
    )
