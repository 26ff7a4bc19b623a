"""Chat completions from base models and fine-tuned adapters, behind one interface.

Why an interface: the worker serves the same OpenAI routes whichever engine
generates. :class:`ChatBackend` is the seam, chosen once at startup
(``tunebot worker --serve-backend``):

- ``hf`` (default, CPU or GPU): transformers + PEFT, a model cache, dynamic
  batching per model (:mod:`worker.inference.hf`);
- ``vllm`` (GPU only, extra ``[vllm]``): one vLLM engine per base model with
  multi-LoRA, ``ft:`` adapters loaded on demand (:mod:`worker.inference.vllm`).

The route validates the request, resolves the model to a :class:`ModelKey`,
calls :meth:`ChatBackend.open` (input errors raise there, before anything is
sent) and reads the :class:`Generation`'s events; cancelling it stops the work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from worker.inference.generation import (
    DEFAULT_MAX_TOKENS,
    Cancelled,
    Completion,
    Delta,
    Generation,
    ModelKey,
    Sampling,
    TokenLogprob,
    TopLogprob,
)
from worker.inference.hf import HFBackend, LoadedModel, ModelCache, ServingCounters

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "Cancelled",
    "ChatBackend",
    "Completion",
    "Delta",
    "Generation",
    "HFBackend",
    "LoadedModel",
    "ModelCache",
    "ModelKey",
    "Sampling",
    "ServingCounters",
    "TokenLogprob",
    "TopLogprob",
    "adapter_key",
]


class ChatBackend(Protocol):
    """What the chat route needs from an engine."""

    name: str
    counters: ServingCounters

    async def open(
        self,
        key: ModelKey,
        messages: list[dict[str, Any]],
        sampling: Sampling,
        *,
        stream: bool,
    ) -> Generation:
        """Start one generation.

        Raises:
            TunebotError: the request cannot be served (too long, no template...).
        """
        ...

    def load(self) -> dict[str, int]:
        """``active_requests`` and ``queued_requests`` right now."""
        ...

    def close(self) -> None: ...


def adapter_key(adapter_dir: Path) -> ModelKey:
    """The cache key of a fine-tuned adapter, from the metadata the trainer wrote."""
    from worker.trainer import ADAPTER_META

    meta = json.loads((adapter_dir / ADAPTER_META).read_text(encoding="utf-8"))
    return ModelKey(meta["base_model"], bool(meta["load_in_4bit"]), str(adapter_dir))
