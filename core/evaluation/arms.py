"""The models being compared, and one call to one of them.

Every arm is called through the same provider interface (OpenAI, Azure OpenAI
and the worker share chat completions), with the same generation settings, so
the only difference between two answers is the model (and, for the few-shot
arm, its system prompt).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import ProviderError

logger = logging.getLogger(__name__)


class ChatProvider(Protocol):
    """What evaluation needs from ``core.providers.Provider``."""

    @property
    def name(self) -> str: ...

    def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        max_tokens: int = 512,
        temperature: float = 0.7,
        seed: int | None = None,
    ) -> Any: ...


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: a model on a provider, maybe with a system prompt."""

    key: str
    provider: str
    model: str
    system_prompt: str | None = None

    def messages(self, conversation: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The conversation as this arm sees it (its system prompt first, if any)."""
        if not self.system_prompt:
            return list(conversation)
        rest = [m for m in conversation if m.get("role") != "system"]
        return [{"role": "system", "content": self.system_prompt}, *rest]


@dataclass(frozen=True)
class Generation:
    """Settings shared by every arm of a comparison."""

    temperature: float = 0.7
    max_tokens: int = 512
    seed: int | None = None


@dataclass(frozen=True)
class Answer:
    """What one arm said, or why it said nothing."""

    text: str | None
    error: str | None
    latency_s: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


def ask(
    arm: Arm,
    conversation: list[dict[str, Any]],
    *,
    providers: Mapping[str, ChatProvider],
    generation: Generation,
) -> Answer:
    """Call one arm; a provider failure becomes an :class:`Answer` with ``error``.

    A failed model must not sink the comparison: the caller marks the prompt
    as not counted and shows the failure to people.
    """
    started = time.monotonic()
    provider = providers.get(arm.provider)
    if provider is None:
        return Answer(None, f"provider {arm.provider!r} is not configured", 0.0)
    try:
        result = provider.chat(
            model=arm.model,
            messages=arm.messages(conversation),
            max_tokens=generation.max_tokens,
            temperature=generation.temperature,
            seed=generation.seed,
        )
    except ProviderError as exc:
        return Answer(None, exc.user_message(), time.monotonic() - started)
    except Exception:
        # A bug, not a provider failure: keep the traceback, tell people briefly.
        logger.exception("chat call to %s/%s failed", arm.provider, arm.model)
        return Answer(None, "internal error (see the bot's log)", time.monotonic() - started)
    return Answer(
        text=str(result.text),
        error=None,
        latency_s=time.monotonic() - started,
        prompt_tokens=getattr(result, "prompt_tokens", None),
        completion_tokens=getattr(result, "completion_tokens", None),
    )


def ask_both(
    first: Arm,
    second: Arm,
    conversation: list[dict[str, Any]],
    *,
    providers: Mapping[str, ChatProvider],
    generation: Generation,
) -> tuple[Answer, Answer]:
    """Both arms at once: the pair takes as long as the slower model, not the sum."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ab-arm") as pool:
        futures = [
            pool.submit(ask, arm, conversation, providers=providers, generation=generation)
            for arm in (first, second)
        ]
        return futures[0].result(), futures[1].result()
