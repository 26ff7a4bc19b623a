"""The vLLM backend: one engine per base model, ``ft:`` adapters as LoRAs on demand.

Why vLLM: on GPU boxes it batches continuously with a paged KV cache, and one
engine serves many LoRA adapters of the same base at once (multi-LoRA), so a
team's fine-tunes do not each need a copy of the base model in memory.

How: :meth:`VLLMBackend.start` builds an ``AsyncLLMEngine`` for each served
base at the worker's serving precision (4-bit bitsandbytes where training
uses QLoRA, as the HF backend does) with ``enable_lora=True``. A request for
an ``ft:`` model carries ``LoRARequest(name, int_id, adapter_dir)``: vLLM
loads the adapter the first time it is asked for and keeps up to
``max_loras`` on the GPU (more on the CPU, least recently used). Prompts are
rendered and checked by the same :class:`PromptBuilder` as the HF backend, and
sent as token ids, so both refuse the same requests with the same messages.

Not run here: the development machine has no GPU, so this module is written
against vLLM's documented API (``AsyncLLMEngine.from_engine_args``,
``generate(prompt, sampling_params, request_id, lora_request=...)``,
``SamplingParams``, ``LoRARequest``, ``RequestOutputKind.DELTA``) and only
its refusal to start without vLLM or CUDA is tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import TunebotError
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
from worker.inference.hf import ServingCounters
from worker.inference.prompt import PromptBuilder

logger = logging.getLogger(__name__)

GPU_MEMORY_SHARE = 0.9
"""Of the GPU's memory, what vLLM may take in all; split evenly between engines."""


def unavailable_reason() -> str | None:
    """Why ``--serve-backend vllm`` cannot run here, or None when it can.

    Checked without importing vLLM (an import alone costs seconds and, without
    CUDA, may fail in confusing ways).
    """
    problems = []
    if importlib.util.find_spec("vllm") is None:
        problems.append("vLLM is not installed (pip install 'tunebot[vllm]' on a CUDA machine)")
    try:
        import torch

        cuda = bool(torch.cuda.is_available())
    except ImportError:
        cuda = False
    if not cuda:
        problems.append("no CUDA GPU is visible to torch (vLLM serves on NVIDIA GPUs only)")
    if not problems:
        return None
    return (
        "--serve-backend vllm cannot start: "
        + "; ".join(problems)
        + ". Use --serve-backend hf (the default), which runs on CPU and GPU."
    )


@dataclass
class _Engine:
    engine: Any
    prompts: PromptBuilder


class VLLMBackend:
    """vLLM engines for the served base models.

    Parameters:
        bases: the base models' folders or hub ids.
        load_in_4bit: serve bases in 4-bit (bitsandbytes), as QLoRA training does.
        max_batch_size: vLLM's ``max_num_seqs`` (sequences decoded together).
        max_loras: adapters held on the GPU at once.
        max_lora_rank: the largest LoRA rank accepted (training allows up to 256).
    """

    name = "vllm"

    def __init__(
        self,
        bases: Iterable[str],
        *,
        load_in_4bit: bool,
        max_batch_size: int,
        max_loras: int = 4,
        max_lora_rank: int = 64,
    ) -> None:
        self.bases = sorted(set(bases))
        self.load_in_4bit = load_in_4bit
        self.max_batch_size = max_batch_size
        self.max_loras = max_loras
        self.max_lora_rank = max_lora_rank
        self.counters = ServingCounters()
        self._engines: dict[str, _Engine] = {}
        self._adapter_prompts: dict[str, PromptBuilder] = {}
        self._lora_ids: dict[str, int] = {}
        self._next_lora_id = itertools.count(1)
        self._active = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Build every engine now, so a model vLLM cannot load stops the worker at startup."""
        from transformers import AutoTokenizer
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        share = GPU_MEMORY_SHARE / max(len(self.bases), 1)
        for base in self.bases:
            args = AsyncEngineArgs(
                model=base,
                enable_lora=True,
                max_loras=self.max_loras,
                max_lora_rank=self.max_lora_rank,
                max_num_seqs=self.max_batch_size,
                gpu_memory_utilization=share,
                quantization="bitsandbytes" if self.load_in_4bit else None,
            )
            engine = AsyncLLMEngine.from_engine_args(args)
            tokenizer = AutoTokenizer.from_pretrained(base)
            context = int(engine.model_config.max_model_len)
            self._engines[base] = _Engine(engine, PromptBuilder(tokenizer, context=context))
            logger.info("vLLM engine ready for %s (context %d)", base, context)

    async def open(
        self,
        key: ModelKey,
        messages: list[dict[str, Any]],
        sampling: Sampling,
        *,
        stream: bool,
    ) -> Generation:
        engine = self._engines.get(key.base)
        if engine is None:
            raise TunebotError(f"No vLLM engine serves the base model {key.base!r}.")
        if key.load_in_4bit != self.load_in_4bit:
            trained = "4-bit" if key.load_in_4bit else "16-bit"
            served = "4-bit" if self.load_in_4bit else "16-bit"
            raise TunebotError(
                f"This model was trained on a {trained} base, but the vLLM backend serves "
                f"its base in {served}; answers would differ from what was evaluated. "
                "Serve it with --serve-backend hf."
            )
        prompts = await asyncio.to_thread(self._prompts_for, engine, key.adapter)
        ids = await asyncio.to_thread(prompts.ids, messages, max_tokens=sampling.max_tokens)
        generation = Generation(stream=stream, loop=asyncio.get_running_loop())
        task = asyncio.create_task(self._run(engine.engine, key, ids, sampling, generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return generation

    def _prompts_for(self, engine: _Engine, adapter: str | None) -> PromptBuilder:
        """An adapter's own tokenizer (its chat template may differ), else the base's."""
        if adapter is None:
            return engine.prompts
        if adapter not in self._adapter_prompts:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(adapter)
            self._adapter_prompts[adapter] = PromptBuilder(
                tokenizer, context=engine.prompts.context
            )
        return self._adapter_prompts[adapter]

    async def _run(
        self,
        engine: Any,
        key: ModelKey,
        prompt: list[int],
        sampling: Sampling,
        generation: Generation,
    ) -> None:
        from vllm import SamplingParams
        from vllm.lora.request import LoRARequest
        from vllm.sampling_params import RequestOutputKind

        params = SamplingParams(
            n=1,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            seed=sampling.seed,
            max_tokens=sampling.max_tokens,
            stop=list(sampling.stop) or None,
            logprobs=sampling.top_logprobs if sampling.logprobs else None,
            output_kind=RequestOutputKind.DELTA,
        )
        lora = None
        if key.adapter:
            if key.adapter not in self._lora_ids:
                self._lora_ids[key.adapter] = next(self._next_lora_id)
            lora = LoRARequest(
                lora_name=key.adapter,
                lora_int_id=self._lora_ids[key.adapter],
                lora_path=key.adapter,
            )
        outputs = engine.generate(
            {"prompt_token_ids": prompt},
            params,
            f"chatcmpl-{secrets.token_hex(12)}",
            lora_request=lora,
        )
        text: list[str] = []
        tokens = 0
        self._active += 1
        try:
            async for output in outputs:
                if generation.cancelled:
                    with self.counters.lock:
                        self.counters.cancelled_requests += 1
                    generation.emit(Cancelled("The request was cancelled."))
                    return  # closing the generator below aborts the vLLM request
                piece = output.outputs[0]
                tokens += len(piece.token_ids)
                with self.counters.lock:
                    self.counters.generated_tokens += len(piece.token_ids)
                text.append(piece.text)
                logprobs = _logprobs(piece, sampling) if sampling.logprobs else ()
                if generation.stream and (piece.text or logprobs):
                    generation.emit(Delta(piece.text, logprobs))
                    logprobs = ()
                if output.finished:
                    generation.emit(
                        Completion(
                            text="".join(text),
                            prompt_tokens=len(prompt),
                            completion_tokens=tokens,
                            finish_reason="length" if piece.finish_reason == "length" else "stop",
                            logprobs=logprobs if sampling.logprobs else None,
                        )
                    )
                    return
        except Exception as exc:  # surfaced to the request, not lost in a task
            logger.exception("vLLM generation failed")
            generation.emit(exc)
        finally:
            self._active -= 1
            with contextlib.suppress(Exception):
                await outputs.aclose()

    def load(self) -> dict[str, int]:
        return {"active_requests": self._active, "queued_requests": 0}

    def close(self) -> None:
        for engine in self._engines.values():
            with contextlib.suppress(Exception):
                engine.engine.shutdown()


def _logprobs(piece: Any, sampling: Sampling) -> tuple[TokenLogprob, ...]:
    """vLLM's per-token ``{token_id: Logprob}`` maps in OpenAI's shape."""
    found: list[TokenLogprob] = []
    for token_id, options in zip(piece.token_ids, piece.logprobs or (), strict=False):
        options = dict(options) if isinstance(options, Mapping) else {}
        chosen = options.get(token_id)
        if chosen is None:
            continue
        ranked = sorted(options.items(), key=lambda item: item[1].rank or 0)
        top = [
            TopLogprob(_text(lp), float(lp.logprob), list(_text(lp).encode("utf-8")))
            for _, lp in ranked[: sampling.top_logprobs]
        ]
        token = _text(chosen)
        found.append(TokenLogprob(token, float(chosen.logprob), list(token.encode("utf-8")), top))
    return tuple(found)


def _text(logprob: Any) -> str:
    return str(getattr(logprob, "decoded_token", "") or "")
