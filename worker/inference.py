"""Chat completions from base models and fine-tuned adapters, with a model cache.

Why a cache: loading a model costs seconds to minutes, a chat request should
not. Entries are keyed by (base, precision, adapter) and evicted least recently
used, so a GPU holds a bounded number of models. A fine-tuned model is its base
loaded at the precision it was trained at, plus its LoRA adapter (DESIGN.md).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import TunebotError

DEFAULT_MAX_TOKENS = 256
STREAM_TIMEOUT = 600.0
"""Seconds without a new token before a stream gives up."""


@dataclass(frozen=True)
class ModelKey:
    base: str
    load_in_4bit: bool
    adapter: str | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class LoadedModel:
    """A model and tokenizer; one generation at a time (torch modules are not re-entrant)."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.lock = threading.Lock()

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None,
        temperature: float,
        seed: int | None,
    ) -> Completion:
        """Generate one assistant reply (greedy when ``temperature`` is 0).

        Raises:
            TunebotError: the model has no chat template or the prompt is too long.
        """
        import torch

        inputs, budget, sampling = self._prepare(messages, max_tokens, temperature)
        with self.lock, torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            output = self.model.generate(**inputs, **sampling)
        return self._completion(output, inputs, budget)

    def stream(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None,
        temperature: float,
        seed: int | None,
    ) -> Iterator[str | Completion]:
        """Like :meth:`complete`, but yields text pieces as they are generated and
        the :class:`Completion` last. Input errors raise before the first piece."""
        inputs, budget, sampling = self._prepare(messages, max_tokens, temperature)
        return self._stream(inputs, budget, sampling, seed)

    def _stream(
        self, inputs: Any, budget: int, sampling: dict[str, Any], seed: int | None
    ) -> Iterator[str | Completion]:
        import torch
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=STREAM_TIMEOUT
        )
        outcome: dict[str, Any] = {}

        def generate() -> None:
            try:
                with torch.inference_mode():
                    outcome["output"] = self.model.generate(**inputs, **sampling, streamer=streamer)
            except Exception as exc:  # surfaced to the request below, not lost in a thread
                outcome["error"] = exc
                streamer.end()

        with self.lock:
            if seed is not None:
                torch.manual_seed(seed)
            thread = threading.Thread(target=generate, name="generate", daemon=True)
            thread.start()
            for piece in streamer:
                if piece:
                    yield piece
            thread.join()
        if "error" in outcome:
            raise outcome["error"]
        yield self._completion(outcome["output"], inputs, budget)

    def _prepare(
        self, messages: list[dict[str, Any]], max_tokens: int | None, temperature: float
    ) -> tuple[Any, int, dict[str, Any]]:
        if not getattr(self.tokenizer, "chat_template", None):
            raise TunebotError("This model has no chat template, so it cannot serve chat.")
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        inputs = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")
        prompt_tokens = int(inputs["input_ids"].shape[1])
        limit = getattr(self.model.config, "max_position_embeddings", None)
        budget = max_tokens or DEFAULT_MAX_TOKENS
        if limit and prompt_tokens + budget > limit:
            raise TunebotError(
                f"The prompt ({prompt_tokens} tokens) plus max_tokens ({budget}) exceeds "
                f"the model's context of {limit} tokens. Shorten the messages or lower max_tokens."
            )
        sampling: dict[str, Any] = {
            "do_sample": temperature > 0,
            "max_new_tokens": budget,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
        }
        if temperature > 0:
            sampling["temperature"] = temperature
        return inputs.to(self.model.device), budget, sampling

    def _completion(self, output: Any, inputs: Any, budget: int) -> Completion:
        prompt_tokens = int(inputs["input_ids"].shape[1])
        new = output[0, prompt_tokens:]
        stopped = len(new) > 0 and int(new[-1]) == self.tokenizer.eos_token_id
        return Completion(
            text=self.tokenizer.decode(new, skip_special_tokens=True),
            prompt_tokens=prompt_tokens,
            completion_tokens=len(new),
            finish_reason="stop" if stopped or len(new) < budget else "length",
        )


class ModelCache:
    """Least-recently-used cache of loaded models (``capacity`` entries)."""

    def __init__(self, *, capacity: int = 2, device: str = "auto") -> None:
        self.capacity = capacity
        self.device = device
        self._models: OrderedDict[ModelKey, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: ModelKey) -> LoadedModel:
        """The loaded model for ``key``, loading it (and evicting the oldest) if needed."""
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            loaded = self._load(key)
            self._models[key] = loaded
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
            return loaded

    def _load(self, key: ModelKey) -> LoadedModel:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from worker.hf_config import model_load_kwargs, resolve_device

        device = resolve_device(self.device)
        kwargs = model_load_kwargs(device=device, load_in_4bit=key.load_in_4bit)
        tokenizer = AutoTokenizer.from_pretrained(key.adapter or key.base)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(key.base, **kwargs)
        if key.load_in_4bit:
            model.train()  # AVX512-BF16 trap: train mode before the first 4-bit forward
        if key.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, key.adapter)
        model.eval()
        return LoadedModel(model, tokenizer)


def adapter_key(adapter_dir: Path) -> ModelKey:
    """The cache key of a fine-tuned adapter, from the metadata the trainer wrote."""
    from worker.trainer import ADAPTER_META

    meta = json.loads((adapter_dir / ADAPTER_META).read_text(encoding="utf-8"))
    return ModelKey(meta["base_model"], bool(meta["load_in_4bit"]), str(adapter_dir))
