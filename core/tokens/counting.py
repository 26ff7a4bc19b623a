"""Tokens per training example, counted the way OpenAI bills them.

The method is the one OpenAI documents in its cookbook (``num_tokens_from_messages``
in "Data preparation and analysis for chat model fine-tuning"), whose totals
match the ``trained_tokens`` of real jobs:

* every message costs 3 tokens, plus the tokens of each of its string values
  (``role``, ``content``, ``name``, ``tool_call_id``, ...); a ``name`` costs 1 more;
* the example costs 3 more tokens for priming the reply.

Beyond the cookbook (which crashes on them):

* ``weight`` is a training switch, not text: never counted;
* ``content`` may be ``None`` (0 tokens) or a list of parts, whose ``text``
  values are counted; other parts (images) add 0 and make the count an estimate;
* ``tool_calls``, ``function_call`` and the example's ``tools``/``functions``
  definitions are counted as compact JSON text, and mark the count
  ``estimated``: OpenAI does not document how it renders them;
* any other non-string value is counted the same way (and estimated), so odd
  input never crashes the counter; the validator reports it.

``trained`` counts what the model learns to produce: the ``content``,
``tool_calls`` and ``function_call`` tokens of assistant messages whose
``weight`` is not 0 (a missing weight means trained). Per-message overhead and
the role are not included, as in the cookbook's assistant-token count.

Text is encoded with ``encode_ordinary``: text such as ``<|endoftext|>`` is
counted as the ordinary text it is (tiktoken's ``encode`` would raise);
finding it is the validator's job (``special_token_in_content``).

A text over 1 MiB is counted in windows of 256 KiB (:func:`windowed_count`):
tiktoken's merge of one multi-megabyte piece (a CSV cell of 8 MB of letters)
took 450 MB and 2.4 s per cell (issue #10). Windows are cut before a space
that follows a non-space character, where the pattern starts a new piece
anyway, so the sum is the exact count; only a window without such a space (a
256 KiB "word") is cut where it ends, which can move the count by a token.
Such a text is at least 8,192 tokens (128 bytes is the longest token) and for
any natural text far over every model's limit, so the verdict stands.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import tiktoken

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_REPLY_PRIMING = 3
_GENERATED_KEYS = frozenset({"content", "tool_calls", "function_call"})
_ROLE_CACHE_LIMIT = 64
LONG_TEXT_CHARS = 1 << 20
WINDOW_CHARS = 1 << 18
CUT_SEARCH_CHARS = 4096


@dataclass(frozen=True)
class ExampleTokens:
    """Token counts of one example.

    ``total`` is what OpenAI bills (before the per-example limit), ``trained``
    the assistant tokens the model learns from, ``estimated`` whether any part
    was counted by a method OpenAI does not document (tools, images).
    """

    total: int
    trained: int
    estimated: bool


def compact_json(value: Any) -> str:
    """The JSON text that tool calls and definitions are counted as.

    Compact separators and real (not ``\\u``-escaped) non-ASCII characters,
    which is closest to what the model sees.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def windowed_count(
    encode: Callable[[str], Sequence[int]],
    *,
    long: int = LONG_TEXT_CHARS,
    window: int = WINDOW_CHARS,
    search: int = CUT_SEARCH_CHARS,
) -> Callable[[str], int]:
    """``len(encode(text))``, in ``window``-character windows for texts over ``long``.

    ``search`` bounds how far back from a window's end a cut is looked for.
    See the module docstring for why the sum is the exact count.
    """

    def count(text: str) -> int:
        size = len(text)
        if size <= long:
            return len(encode(text))
        total = 0
        start = 0
        while start < size:
            end = min(start + window, size)
            if end < size:
                end = _cut_before_word(text, start, end, search)
            total += len(encode(text[start:end]))
            start = end
        return total

    return count


def _cut_before_word(text: str, start: int, end: int, search: int) -> int:
    """The last place in ``text[start:end]`` just before a space that follows a non-space."""
    floor = max(start + 1, end - search)
    cut = text.rfind(" ", floor, end)
    while cut > floor and text[cut - 1].isspace():
        cut = text.rfind(" ", floor, cut)
    return cut if cut > floor else end


class MessageCounter:
    """The counting rules over any ``str -> token count`` function.

    :class:`ChatTokenCounter` feeds it tiktoken.
    """

    def __init__(self, count: Callable[[str], int]) -> None:
        self._count = count
        self._role_tokens: dict[str, int] = {}

    def count_text(self, text: str) -> int:
        """Tokens of ``text`` encoded as ordinary text."""
        return self._count(text)

    def count_document(self, text: str) -> ExampleTokens:
        """A ``{"text"}`` example (worker only): every token is trained."""
        tokens = self._count(text)
        return ExampleTokens(total=tokens, trained=tokens, estimated=False)

    def count_prompt_completion(self, prompt: str, completion: str) -> ExampleTokens:
        """Legacy prompt/completion example: billed prompt + completion, completion trained."""
        completion_tokens = self._count(completion)
        return ExampleTokens(
            total=self._count(prompt) + completion_tokens,
            trained=completion_tokens,
            estimated=False,
        )

    def count_messages(
        self,
        messages: Sequence[Any],
        *,
        tools: list[Any] | None = None,
        functions: list[Any] | None = None,
    ) -> ExampleTokens:
        """Tokens of a chat example (see the module docstring for the exact rules).

        Parameters:
            messages: the example's ``messages`` list, as parsed from JSON.
            tools: the example's ``tools`` definitions, if any.
            functions: the deprecated ``functions`` definitions, if any.
        """
        count_text = self._count
        role_tokens = self._role_tokens
        total = TOKENS_REPLY_PRIMING
        trained = 0
        estimated = False
        for message in messages:
            total += TOKENS_PER_MESSAGE
            if type(message) is not dict:
                total += count_text(compact_json(message))
                estimated = True
                continue
            generated = 0  # tokens of the keys an assistant produces
            for key, value in message.items():
                if type(value) is str:
                    if key == "role":
                        count = role_tokens.get(value) or self._role(value)
                    else:
                        count = count_text(value)
                        if key == "name":
                            count += TOKENS_PER_NAME
                elif value is None or key == "weight":
                    continue
                else:
                    count, exact = self._count_structured(key, value)
                    estimated = estimated or not exact
                total += count
                if key in _GENERATED_KEYS:
                    generated += count
            # Looked up only after the loop: most messages are not assistant ones.
            if generated and message.get("role") == "assistant" and message.get("weight", 1) != 0:
                trained += generated
        for definitions in (tools, functions):
            if definitions:
                total += count_text(compact_json(definitions))
                estimated = True
        return ExampleTokens(total=total, trained=trained, estimated=estimated)

    def _role(self, role: str) -> int:
        count = self._role_tokens.get(role)
        if count is None:
            count = self._count(role)
            if len(self._role_tokens) < _ROLE_CACHE_LIMIT:
                self._role_tokens[role] = count
        return count

    def _count_structured(self, key: str, value: Any) -> tuple[int, bool]:
        """A non-string value: (tokens, whether the count is exact).

        Content parts count their texts exactly; images and other parts have no
        documented token cost, so they add 0 and make the count an estimate.
        Anything else is counted as its JSON text, an estimate.
        """
        if key == "content" and isinstance(value, list):
            count = 0
            exact = True
            for part in value:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    count += self._count(part["text"])
                else:
                    exact = False
            return count, exact
        return self._count(compact_json(value)), False


class ChatTokenCounter(MessageCounter):
    """Counts examples with one tiktoken encoding; built once, used for a whole file.

    This is the validator's hot loop (200,000 examples in the benchmark), so it
    binds ``encode_ordinary`` once and remembers the few role strings. One
    counter may be shared by threads: tiktoken releases the GIL while encoding,
    so two threads can use both cores.
    """

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        super().__init__(windowed_count(encoding.encode_ordinary))
        self.encoding = encoding
