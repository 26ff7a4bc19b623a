"""What every check needs to know about the target model, built once per process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from core.tokens import ChatTokenCounter, ExampleTokens, HFTokenCounter, ModelSpec, get_encoding
from core.validation.content import KNOWN_SPECIAL_TOKENS


class Counter(Protocol):
    """What the checks need from a token counter (tiktoken or a local HF tokenizer)."""

    def count_text(self, text: str) -> int: ...

    def count_document(self, text: str) -> ExampleTokens: ...

    def count_prompt_completion(self, prompt: str, completion: str) -> ExampleTokens: ...

    def count_messages(
        self,
        messages: Sequence[Any],
        *,
        tools: list[Any] | None = None,
        functions: list[Any] | None = None,
    ) -> ExampleTokens: ...


@dataclass(frozen=True, slots=True)
class Target:
    """The model to validate for and how to count its tokens; small and picklable,
    so worker processes can build the same :class:`CheckContext`.

    ``tokenizer_path`` is used for open models only: their own tokenizer and
    chat template give the exact sequences the worker trains, where tiktoken
    only estimates.
    """

    spec: ModelSpec
    tokenizer_path: Path | None = None

    @classmethod
    def for_spec(cls, spec: ModelSpec, configured: Path | None = None) -> Target:
        """The target for ``spec``: an open model given as a local folder holding
        ``tokenizer.json`` is counted with that folder (it is the model the worker
        trains); other open models with ``configured`` (``TUNEBOT_HF_TOKENIZER``)."""
        if spec.provider == "open":
            folder = Path(spec.id).expanduser()
            if (folder / "tokenizer.json").is_file():
                return cls(spec, folder)
        return cls(spec, configured)

    @property
    def uses_hf_tokenizer(self) -> bool:
        return self.tokenizer_path is not None and self.spec.provider == "open"


@dataclass(frozen=True, slots=True)
class CheckContext:
    """The target model's limit, its counter and the special tokens to refuse.

    ``worker`` is true for open models, trained by tunebot's worker: its trainer
    learns the final assistant reply, so examples must end with one.
    """

    model: str
    max_tokens: int
    counter: Counter
    specials: frozenset[str]
    worker: bool = False

    @classmethod
    def for_target(cls, target: Target) -> CheckContext:
        """Load the counter (encodings are cached per process) and build the context.

        Raises:
            ConfigError: the HF tokenizer folder cannot be read.
        """
        spec = target.spec
        encoding = get_encoding(spec.encoding)
        specials = KNOWN_SPECIAL_TOKENS | frozenset(encoding.special_tokens_set)
        counter: Counter = ChatTokenCounter(encoding)
        if target.uses_hf_tokenizer:
            assert target.tokenizer_path is not None
            hf_counter = HFTokenCounter(target.tokenizer_path)
            specials |= hf_counter.special_tokens
            counter = hf_counter
        return cls(spec.id, spec.max_tokens, counter, specials, spec.provider == "open")

    def too_long(self, tokens: ExampleTokens | int) -> tuple[str, str, str | None] | None:
        """The ``too_many_tokens`` problem when an example is over the limit."""
        total = tokens if isinstance(tokens, int) else tokens.total
        if total <= self.max_tokens:
            return None
        return (
            "too_many_tokens",
            f"The example has {total:,} tokens; {self.model} accepts at most "
            f"{self.max_tokens:,} per training example.",
            "Shorten or split it (OpenAI truncates longer examples, so the end is never "
            "trained); --fix drops it.",
        )
