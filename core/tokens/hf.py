"""Exact token counts for open models, from the model's own local tokenizer.

The worker trains what :class:`~core.tokens.sequences.SequenceBuilder` builds
from the model's tokenizer folder; this counter calls the very same builder,
so the validator's billed tokens are the trainer's sequence lengths (the
job's ``trained_tokens`` is their sum times the epochs, exactly). Nothing is
downloaded: the folder must already hold ``tokenizer.json``.

A chat example the model's template cannot render (no template, a template
that refuses it, tools it cannot show) raises :class:`~core.errors.DatasetError`
with the finding's code: the worker could not train it, so it is an error, not
an estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.tokens.counting import ExampleTokens
from core.tokens.sequences import SequenceBuilder, TrainingSequence


class HFTokenCounter:
    """Counts examples with a local Hugging Face tokenizer folder (or tokenizer.json path).

    Raises (from the constructor):
        ConfigError: no readable ``tokenizer.json`` there, or a chat template
            that does not compile.
    """

    def __init__(self, tokenizer_path: str | Path) -> None:
        self.builder = SequenceBuilder(tokenizer_path)

    @property
    def has_chat_template(self) -> bool:
        """Whether chat examples can be rendered (and so trained) for this model."""
        return self.builder.template is not None

    @property
    def special_tokens(self) -> frozenset[str]:
        """The tokenizer's special tokens: text the validator refuses in content."""
        return self.builder.special_tokens

    def count_text(self, text: str) -> int:
        """Tokens of ``text`` alone, without the tokenizer's added special tokens."""
        return len(self.builder.tokenizer.encode(text, add_special_tokens=False).ids)

    def count_document(self, text: str) -> ExampleTokens:
        """A ``{"text"}`` example as the worker trains it (special tokens and EOS included)."""
        return _tokens(self.builder.text(text))

    def count_prompt_completion(self, prompt: str, completion: str) -> ExampleTokens:
        """Prompt + completion as the worker trains them; the completion and EOS are trained."""
        return _tokens(self.builder.prompt_completion(prompt, completion))

    def count_messages(
        self,
        messages: Sequence[Any],
        *,
        tools: list[Any] | None = None,
        functions: list[Any] | None = None,
    ) -> ExampleTokens:
        """Tokens of the example as the chat template renders it; ``trained`` carry loss.

        Raises:
            DatasetError: the template cannot render the example (see
                :meth:`SequenceBuilder.chat`).
        """
        return _tokens(self.builder.chat(messages, tools=tools, functions=functions))


def _tokens(sequence: TrainingSequence) -> ExampleTokens:
    return ExampleTokens(total=sequence.total, trained=sequence.trained, estimated=False)
