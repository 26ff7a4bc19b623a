"""What every check needs to know about the target model, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from core.tokens import ChatTokenCounter, ExampleTokens, ModelSpec, get_encoding
from core.validation.content import KNOWN_SPECIAL_TOKENS


@dataclass(frozen=True, slots=True)
class CheckContext:
    """The target model's limit, its counter and the special tokens to refuse."""

    model: str
    max_tokens: int
    counter: ChatTokenCounter
    specials: frozenset[str]

    @classmethod
    def for_model(cls, spec: ModelSpec) -> CheckContext:
        """Load the model's encoding (cached per process) and build the context."""
        encoding = get_encoding(spec.encoding)
        specials = KNOWN_SPECIAL_TOKENS | frozenset(encoding.special_tokens_set)
        return cls(spec.id, spec.max_tokens, ChatTokenCounter(encoding), specials)

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
