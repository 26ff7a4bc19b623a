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


class MessageCounter:
    """The counting rules over any ``str -> token ids`` function.

    :class:`ChatTokenCounter` feeds it tiktoken; :class:`~core.tokens.HFTokenCounter`
    feeds it a Hugging Face tokenizer when the model has no chat template.
    """

    def __init__(self, encode: Callable[[str], Sequence[int]]) -> None:
        self._encode = encode
        self._role_tokens: dict[str, int] = {}

    def count_text(self, text: str) -> int:
        """Tokens of ``text`` encoded as ordinary text."""
        return len(self._encode(text))

    def count_document(self, text: str) -> ExampleTokens:
        """A ``{"text"}`` example (worker only): every token is trained."""
        tokens = len(self._encode(text))
        return ExampleTokens(total=tokens, trained=tokens, estimated=False)

    def count_prompt_completion(self, prompt: str, completion: str) -> ExampleTokens:
        """Legacy prompt/completion example: billed prompt + completion, completion trained."""
        completion_tokens = len(self._encode(completion))
        return ExampleTokens(
            total=len(self._encode(prompt)) + completion_tokens,
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
        encode = self._encode
        role_tokens = self._role_tokens
        total = TOKENS_REPLY_PRIMING
        trained = 0
        estimated = False
        for message in messages:
            total += TOKENS_PER_MESSAGE
            if type(message) is not dict:
                total += len(encode(compact_json(message)))
                estimated = True
                continue
            generated = 0  # tokens of the keys an assistant produces
            for key, value in message.items():
                if type(value) is str:
                    if key == "role":
                        count = role_tokens.get(value) or self._role(value)
                    else:
                        count = len(encode(value))
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
                total += len(encode(compact_json(definitions)))
                estimated = True
        return ExampleTokens(total=total, trained=trained, estimated=estimated)

    def _role(self, role: str) -> int:
        count = self._role_tokens.get(role)
        if count is None:
            count = len(self._encode(role))
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
                    count += len(self._encode(part["text"]))
                else:
                    exact = False
            return count, exact
        return len(self._encode(compact_json(value))), False


class ChatTokenCounter(MessageCounter):
    """Counts examples with one tiktoken encoding; built once, used for a whole file.

    This is the validator's hot loop (200,000 examples in the benchmark), so it
    binds ``encode_ordinary`` once and remembers the few role strings. One
    counter may be shared by threads: tiktoken releases the GIL while encoding,
    so two threads can use both cores.
    """

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        super().__init__(encoding.encode_ordinary)
        self.encoding = encoding
