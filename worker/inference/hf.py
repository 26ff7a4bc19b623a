"""The Hugging Face backend: a model cache, and dynamic batching per loaded model.

Why a cache: loading a model costs seconds to minutes, a chat request should
not. Entries are keyed by (base, precision, adapter) and evicted least recently
used, so a GPU holds a bounded number of models. A fine-tuned model is its base
loaded at the precision it was trained at, plus its LoRA adapter (DESIGN.md).

Why batching: one decoding step of a small batch costs about as much as one of
a single sequence, so requests that wait for the same model are decoded
together. Each loaded model has one engine thread; when it is free it takes
every waiting request (up to ``max_batch_size``), left-pads their prompts and
decodes them step by step with the KV cache. Each request keeps its own
sampling (temperature, top-p, seed via its own generator), its own stops (EOS,
stop strings, ``max_tokens``) and its own cancel flag: a request that ends
leaves the batch at once (its rows are dropped from the cache) and gets its
answer then; the others go on, unchanged. A request that arrives while a batch
runs waits for the next one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from core.errors import TunebotError
from worker.inference.detokenizer import TextTracker, is_byte_level, token_text_and_bytes
from worker.inference.generation import (
    Cancelled,
    Completion,
    Delta,
    Generation,
    ModelKey,
    Sampling,
    TokenLogprob,
    TopLogprob,
)
from worker.inference.prompt import PromptBuilder

logger = logging.getLogger(__name__)

BATCH_WINDOW_SECONDS = 0.01
"""How long a free engine waits for company after the first request arrives:
concurrent clients rarely arrive in the same millisecond, and a request that
just misses a batch waits for all of it."""


@dataclass
class ServingCounters:
    """Totals since start, shared by a backend's models (shown by ``/healthz``)."""

    generated_tokens: int = 0
    cancelled_requests: int = 0
    batches: int = 0
    largest_batch: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass
class _Request:
    prompt: list[int]
    sampling: Sampling
    generation: Generation
    tracker: TextTracker
    generator: Any = None
    completion_tokens: int = 0
    logprobs: list[TokenLogprob] = field(default_factory=list)
    sent_logprobs: int = 0
    done: bool = False


class LoadedModel:
    """A model and tokenizer served through one engine thread that batches requests.

    Parameters:
        max_batch_size: the most requests decoded together (1 turns batching off).
        counters: where generated tokens and cancellations are counted.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_batch_size: int = 8,
        counters: ServingCounters | None = None,
        name: str = "model",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.counters = counters or ServingCounters()
        self.context = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        self._prompts = PromptBuilder(tokenizer, context=self.context)
        self._byte_level = is_byte_level(tokenizer)
        self._eos = _eos_ids(model, tokenizer)
        self._cache_arg, self._keep_arg = _forward_args(model)
        self._pending: deque[_Request] = deque()
        self._active = 0
        self._closed = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"generate-{name}", daemon=True)
        self._thread.start()

    # --- requests ---------------------------------------------------------
    def prepare(self, messages: list[dict[str, Any]], sampling: Sampling) -> list[int]:
        """The prompt's token ids (see :class:`PromptBuilder` for the checks).

        Raises:
            TunebotError: no chat template, or the prompt cannot fit the context.
        """
        return self._prompts.ids(messages, max_tokens=sampling.max_tokens)

    def submit(self, prompt: list[int], sampling: Sampling, generation: Generation) -> None:
        """Queue a prepared prompt; events arrive on ``generation``."""
        request = _Request(prompt, sampling, generation, TextTracker(self.tokenizer, sampling.stop))
        with self._wake:
            if self._closed:
                raise TunebotError("The model is being unloaded; retry the request.")
            self._pending.append(request)
            self._wake.notify()

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float = 1.0,
        seed: int | None = None,
        timeout: float | None = None,
    ) -> Completion:
        """One reply, blocking (for scripts; the API goes through :class:`HFBackend`)."""
        sampling = Sampling(
            max_tokens=max_tokens or Sampling.max_tokens, temperature=temperature, seed=seed
        )
        generation = Generation(stream=False)
        self.submit(self.prepare(messages, sampling), sampling, generation)
        return generation.wait(timeout)

    @property
    def queued(self) -> int:
        return len(self._pending)

    @property
    def active(self) -> int:
        return self._active

    def close(self) -> None:
        """Stop after the requests already queued (the model is being evicted)."""
        with self._wake:
            self._closed = True
            self._wake.notify()

    # --- the engine thread ------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending:
                    return
                if len(self._pending) < self.max_batch_size:
                    self._wake.wait(BATCH_WINDOW_SECONDS)
            batch = self._take(self.max_batch_size)
            if batch:
                with self.counters.lock:
                    self.counters.batches += 1
                import torch

                with torch.inference_mode():
                    self._generate(batch)
            self._active = 0

    def _take(self, most: int) -> list[_Request]:
        """Up to ``most`` waiting requests, dropping those cancelled while they waited."""
        taken: list[_Request] = []
        with self._wake:
            while self._pending and len(taken) < most:
                request = self._pending.popleft()
                if not self._drop_if_cancelled(request):
                    taken.append(request)
        return taken

    def _generate(self, batch: list[_Request]) -> None:
        """Decode ``batch`` to the end, letting waiting requests join as rows free up.

        Why joining: a request that arrives a moment after a batch started would
        otherwise wait for the whole batch. Newcomers are prefilled on their own
        and their KV cache is merged into the running one, both left-padded to
        the same length; padding is masked, so no row's answer changes.
        """
        import torch

        inflight = list(batch)
        try:
            rows, cache, logits, mask, positions = self._prefill(batch)
            while True:
                chosen = self._choose(rows, logits)
                keep = [i for i, r in enumerate(rows) if not self._step(r, int(chosen[i]))]
                if len(keep) < len(rows):
                    if not keep:
                        return  # the next batch starts fresh, with any newcomers
                    index = torch.tensor(keep, device=mask.device)
                    cache.batch_select_indices(index)
                    mask, positions, chosen = mask[index], positions[index], chosen[index]
                    rows = [rows[i] for i in keep]
                room = self.max_batch_size - len(rows)
                if room > 0 and self._pending and _joinable(cache):
                    newcomers = self._take(room)
                    inflight += newcomers
                    if newcomers:
                        joined = self._join(newcomers, rows, cache, mask, positions, chosen)
                        rows, cache, mask, positions, chosen = joined
                self._active = len(rows)
                with self.counters.lock:
                    self.counters.largest_batch = max(self.counters.largest_batch, len(rows))
                mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
                positions = positions[:, -1:] + 1
                out = self.model(
                    input_ids=chosen[:, None],
                    attention_mask=mask,
                    position_ids=positions,
                    use_cache=True,
                    **{self._cache_arg: cache},
                )
                cache, logits = getattr(out, self._cache_arg), out.logits[:, -1, :].float()
        except Exception as exc:  # one bad batch must not kill the engine
            logger.exception("generation failed for a batch of %d", len(inflight))
            for request in inflight:
                if not request.done:
                    request.done = True
                    request.generation.emit(exc)

    def _prefill(self, rows: list[_Request]) -> tuple[list[_Request], Any, Any, Any, Any]:
        """Run the prompts (left-padded) through the model: the rows, their KV cache,
        next-token logits, attention mask and last positions."""
        import torch

        device = self.model.device
        for request in rows:
            if request.sampling.temperature > 0:
                seed = request.sampling.seed
                seed = secrets.randbits(63) if seed is None else seed % 2**64
                request.generator = torch.Generator(device=device).manual_seed(seed)
        width = max(len(r.prompt) for r in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([[pad] * (width - len(r.prompt)) + r.prompt for r in rows])
        mask = torch.tensor([[0] * (width - len(r.prompt)) + [1] * len(r.prompt) for r in rows])
        ids, mask = ids.to(device), mask.to(device)
        # Left padding: each row's positions count its own tokens only.
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            **self._keep_arg,
        )
        logits = out.logits[:, -1, :].float()
        return rows, getattr(out, self._cache_arg), logits, mask, positions[:, -1:]

    def _join(
        self,
        newcomers: list[_Request],
        rows: list[_Request],
        cache: Any,
        mask: Any,
        positions: Any,
        chosen: Any,
    ) -> tuple[list[_Request], Any, Any, Any, Any]:
        """Prefill ``newcomers``, take their first token, and merge them into the batch."""
        import torch

        new_rows, new_cache, logits, new_mask, new_positions = self._prefill(newcomers)
        new_chosen = self._choose(new_rows, logits)
        keep = [i for i, r in enumerate(new_rows) if not self._step(r, int(new_chosen[i]))]
        if not keep:
            return rows, cache, mask, positions, chosen
        index = torch.tensor(keep, device=mask.device)
        new_cache.batch_select_indices(index)
        new_mask, new_positions = new_mask[index], new_positions[index]
        new_chosen = new_chosen[index]
        width = max(mask.shape[1], new_mask.shape[1])
        for layer, new_layer in zip(cache.layers, new_cache.layers, strict=True):
            layer.keys = torch.cat([_left_pad(layer.keys, width), _left_pad(new_layer.keys, width)])
            layer.values = torch.cat(
                [_left_pad(layer.values, width), _left_pad(new_layer.values, width)]
            )
        mask = torch.cat([_left_pad(mask, width), _left_pad(new_mask, width)])
        return (
            rows + [new_rows[i] for i in keep],
            cache,
            mask,
            torch.cat([positions, new_positions]),
            torch.cat([chosen, new_chosen]),
        )

    def _choose(self, rows: list[_Request], logits: Any) -> Any:
        """The next token of each row: argmax for greedy rows, else its own sample."""
        import torch

        chosen = logits.argmax(dim=-1)
        wants_logprobs = any(r.sampling.logprobs for r in rows)
        logprobs = torch.log_softmax(logits, dim=-1) if wants_logprobs else None
        for i, request in enumerate(rows):
            sampling = request.sampling
            if sampling.temperature > 0:
                probs = torch.softmax(logits[i] / sampling.temperature, dim=-1)
                if sampling.top_p < 1:
                    probs = _top_p(probs, sampling.top_p)
                chosen[i] = torch.multinomial(probs, 1, generator=request.generator)[0]
            if logprobs is not None and sampling.logprobs:
                token = int(chosen[i])
                if token not in self._eos:  # the end token is not part of the content
                    request.logprobs.append(self._logprob(logprobs[i], token, sampling))
        return chosen

    def _logprob(self, row: Any, token: int, sampling: Sampling) -> TokenLogprob:
        import torch

        text, raw = token_text_and_bytes(self.tokenizer, token, byte_level=self._byte_level)
        top: list[TopLogprob] = []
        if sampling.top_logprobs:
            values, indices = torch.topk(row, sampling.top_logprobs)
            for value, index in zip(values.tolist(), indices.tolist(), strict=True):
                top_text, top_raw = token_text_and_bytes(
                    self.tokenizer, index, byte_level=self._byte_level
                )
                top.append(TopLogprob(top_text, float(value), top_raw))
        return TokenLogprob(text, float(row[token]), raw, top)

    def _step(self, request: _Request, token: int) -> bool:
        """Feed one token to a request; True when it is done (answered or cancelled)."""
        if self._drop_if_cancelled(request):
            return True
        request.completion_tokens += 1
        with self.counters.lock:
            self.counters.generated_tokens += 1
        tracker = request.tracker
        reason = None
        if token in self._eos:
            reason = "stop"
        else:
            tracker.add(token)
            if tracker.stopped:
                reason = "stop"
            elif request.completion_tokens >= request.sampling.max_tokens:
                reason = "length"
        if reason is None:
            if request.generation.stream:
                piece = tracker.unsent(final=False)
                if piece:
                    request.generation.emit(Delta(piece, self._new_logprobs(request)))
            return False
        tracker.finish()
        request.done = True
        if request.generation.stream:
            piece = tracker.unsent(final=True)
            if piece:
                request.generation.emit(Delta(piece, self._new_logprobs(request)))
        request.generation.emit(
            Completion(
                text=tracker.text,
                prompt_tokens=len(request.prompt),
                completion_tokens=request.completion_tokens,
                finish_reason=reason,
                logprobs=self._new_logprobs(request) if request.sampling.logprobs else None,
            )
        )
        return True

    @staticmethod
    def _new_logprobs(request: _Request) -> tuple[TokenLogprob, ...]:
        fresh = request.logprobs[request.sent_logprobs :]
        request.sent_logprobs = len(request.logprobs)
        return tuple(fresh)

    def _drop_if_cancelled(self, request: _Request) -> bool:
        if not request.generation.cancelled:
            return False
        request.done = True
        with self.counters.lock:
            self.counters.cancelled_requests += 1
        request.generation.emit(Cancelled("The request was cancelled."))
        return True


def _top_p(probs: Any, top_p: float) -> Any:
    """Nucleus filtering: keep the smallest set of tokens whose mass reaches ``top_p``."""
    import torch

    ordered, order = torch.sort(probs, descending=True)
    before = torch.cumsum(ordered, dim=-1) - ordered  # mass of the tokens ranked higher
    ordered[before >= top_p] = 0  # the top token always stays (its "before" is 0)
    kept = torch.zeros_like(probs).scatter(0, order, ordered)
    return kept / kept.sum()


def _joinable(cache: Any) -> bool:
    """Whether rows can join ``cache``: plain per-layer key/value tensors only (a
    sliding-window or quantised cache would not survive left padding)."""
    layers: list[Any] = list(getattr(cache, "layers", None) or [])
    return bool(layers) and all(type(layer).__name__ == "DynamicLayer" for layer in layers)


def _left_pad(tensor: Any, width: int) -> Any:
    """Zero-pad the sequence dimension on the left (dim -2 of K/V, dim -1 of a mask)."""
    import torch

    dim = -1 if tensor.dim() == 2 else -2
    missing = width - tensor.shape[dim]
    if missing == 0:
        return tensor
    pad = (missing, 0) if dim == -1 else (0, 0, missing, 0)
    return torch.nn.functional.pad(tensor, pad)


def _forward_args(model: Any) -> tuple[str, dict[str, int]]:
    """The KV cache's argument name (``cache`` since transformers 5.x, before that
    ``past_key_values``) and, where supported, "compute logits for the last position only"."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = inspect.signature(base.forward).parameters
    cache_arg = "cache" if "cache" in names else "past_key_values"
    return cache_arg, ({"logits_to_keep": 1} if "logits_to_keep" in names else {})


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """Every end token: the tokenizer's and the generation config's (which may list several)."""
    ids: set[int] = set()
    for value in (
        tokenizer.eos_token_id,
        getattr(getattr(model, "generation_config", None), "eos_token_id", None),
    ):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return frozenset(ids)


class ModelCache:
    """Least-recently-used cache of loaded models (``capacity`` entries)."""

    def __init__(
        self,
        *,
        capacity: int = 2,
        device: str = "auto",
        max_batch_size: int = 8,
        counters: ServingCounters | None = None,
    ) -> None:
        self.capacity = capacity
        self.device = device
        self.max_batch_size = max_batch_size
        self.counters = counters or ServingCounters()
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
                _, evicted = self._models.popitem(last=False)
                evicted.close()
            return loaded

    def loaded(self) -> list[LoadedModel]:
        with self._lock:
            return list(self._models.values())

    def close(self) -> None:
        for model in self.loaded():
            model.close()

    def _load(self, key: ModelKey) -> LoadedModel:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from worker.hf_config import model_load_kwargs, resolve_device

        device = resolve_device(self.device)
        kwargs = model_load_kwargs(device=device, load_in_4bit=key.load_in_4bit)
        tokenizer = AutoTokenizer.from_pretrained(key.adapter or key.base)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model: Any = AutoModelForCausalLM.from_pretrained(key.base, **kwargs)
        if key.load_in_4bit:
            model.train()  # AVX512-BF16 trap: train mode before the first 4-bit forward
        if key.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, key.adapter)
        model.eval()
        name = key.adapter.rsplit("/", 2)[-2] if key.adapter else key.base.rsplit("/", 1)[-1]
        return LoadedModel(
            model,
            tokenizer,
            max_batch_size=self.max_batch_size,
            counters=self.counters,
            name=name,
        )


class HFBackend:
    """Transformers on CPU or GPU, batched per model; the default backend."""

    name = "hf"

    def __init__(self, cache: ModelCache) -> None:
        self.cache = cache
        self.counters = cache.counters

    async def open(
        self,
        key: ModelKey,
        messages: list[dict[str, Any]],
        sampling: Sampling,
        *,
        stream: bool,
    ) -> Generation:
        """Start generating; input errors raise here, before any event."""
        loaded = await asyncio.to_thread(self.cache.get, key)
        prompt = await asyncio.to_thread(loaded.prepare, messages, sampling)
        generation = Generation(stream=stream, loop=asyncio.get_running_loop())
        loaded.submit(prompt, sampling, generation)
        return generation

    def load(self) -> dict[str, int]:
        models = self.cache.loaded()
        return {
            "active_requests": sum(m.active for m in models),
            "queued_requests": sum(m.queued for m in models),
        }

    def close(self) -> None:
        self.cache.close()
