"""Chat messages -> prompt token ids, refusing what cannot fit before it costs memory.

Why the order: tokenising costs hundreds of bytes per token (4 MB of text once
took the worker up 800 MB), so the cheap checks run first: the HTTP body limit
(``worker.body_limit``), then a bound from the rendered text's length, then
the exact count. Both backends use this, so they refuse the same requests with
the same message.
"""

from __future__ import annotations

from typing import Any

from core.errors import TunebotError
from worker.inference.detokenizer import max_token_chars


class PromptBuilder:
    """Renders and checks prompts for one tokenizer and context length.

    Parameters:
        context: the model's context in tokens (0: unknown, no check).
    """

    def __init__(self, tokenizer: Any, *, context: int) -> None:
        self.tokenizer = tokenizer
        self.context = context
        self._max_token_chars = max_token_chars(tokenizer)

    def ids(self, messages: list[dict[str, Any]], *, max_tokens: int) -> list[int]:
        """The prompt's token ids.

        Raises:
            TunebotError: no chat template, or the prompt plus ``max_tokens``
                cannot fit the context.
        """
        if not getattr(self.tokenizer, "chat_template", None):
            raise TunebotError("This model has no chat template, so it cannot serve chat.")
        text: str = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        if self.context:
            # No token stands for more than _max_token_chars characters, so this
            # bounds the count from below without tokenising.
            at_least = -(-len(text) // self._max_token_chars)
            if at_least + max_tokens > self.context:
                raise _too_long(f"at least {at_least}", max_tokens, self.context)
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if self.context and len(ids) + max_tokens > self.context:
            raise _too_long(str(len(ids)), max_tokens, self.context)
        return ids


def _too_long(prompt: str, max_tokens: int, context: int) -> TunebotError:
    return TunebotError(
        f"The prompt ({prompt} tokens) plus max_tokens ({max_tokens}) exceeds the model's "
        f"context of {context} tokens. Shorten the messages or lower max_tokens."
    )
