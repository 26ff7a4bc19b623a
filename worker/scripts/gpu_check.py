"""Prove the QLoRA path end to end on this machine, offline, in a few minutes.

Why: a new GPU box fails in ways unit tests on CPU cannot see (CUDA build of
torch, bitsandbytes kernels, bf16 support, memory). Through the worker's own
trainer, in 4-bit NF4, this runs:

1. a supervised job on multi-turn chat examples (a new LoRA adapter);
2. a DPO job on preference pairs that continues that adapter (TRL's frozen
   "ref" copy is the reference), with the default supervised term;
3. serving the DPO adapter for one chat completion, at its training precision;
4. ``--merge`` export of the DPO model, loaded back with plain transformers.

It prints, per job, tokens/s and peak GPU memory. ``--model`` takes a small
real model (a local folder, or a hub id already in the cache: nothing is
downloaded when ``HF_HUB_OFFLINE=1``); without it, the tiny random model is
written and used. ``--cpu`` runs the same code on CPU (4-bit via bitsandbytes'
CPU backend) so the path can be checked where no GPU exists.

Usage::

    python -m worker.scripts.gpu_check [--cpu] [--steps 20] [--size tiny|small]
                                       [--model Qwen/Qwen2.5-0.5B-Instruct]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from threading import Event
from typing import Any

from core.training.config import TrainingParams
from worker.job_spec import JobSpec

QUESTIONS = [(f"What is item {i}?", f"Item {i} is number {i * 7 % 13}.") for i in range(16)]
SYSTEM = "Answer with the item's number."


# The check proves the path (train, save, serve), not quality: say so next to the answer.
TINY_MODEL_NOTE = (
    "(The tiny model is random weights trained for a few steps: its answers are noise. "
    "That is expected; this check proves training and serving work, not quality.)"
)


def check_params(steps: int, **extra: Any) -> TrainingParams:
    """QLoRA forced on, a few steps, one checkpoint at the end."""
    return TrainingParams(
        n_epochs=50,
        max_steps=steps,
        batch_size=8,
        learning_rate_multiplier=10,
        load_in_4bit=True,
        max_seq_length=128,
        checkpoint_steps=steps,
        **extra,
    )


def _multi_turn(path: Path) -> Path:
    """Two questions per conversation: the first answer is an earlier assistant turn."""
    with path.open("w", encoding="utf-8") as handle:
        for i, (question, answer) in enumerate(QUESTIONS):
            follow_up, second = QUESTIONS[(i + 1) % len(QUESTIONS)]
            messages = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
                {"role": "user", "content": follow_up},
                {"role": "assistant", "content": second},
            ]
            handle.write(json.dumps({"messages": messages}) + "\n")
    return path


def _pairs(path: Path) -> Path:
    """OpenAI's preference format: the right answer over a wrong number."""
    with path.open("w", encoding="utf-8") as handle:
        for i, (question, answer) in enumerate(QUESTIONS):
            wrong = f"Item {i} is number {(i * 7 + 5) % 13}."
            record = {
                "input": {"messages": [{"role": "user", "content": question}]},
                "preferred_output": [{"role": "assistant", "content": answer}],
                "non_preferred_output": [{"role": "assistant", "content": wrong}],
            }
            handle.write(json.dumps(record) + "\n")
    return path


def _assert_qlora(model: Any, *, device: str) -> list[str]:
    """What the loaded model proves about quantisation (raises when it is not 4-bit NF4)."""
    import bitsandbytes as bnb

    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    if not layers:
        raise SystemExit("FAIL: no bitsandbytes Linear4bit layers: the model is not quantised")
    state = layers[0].weight.quant_state
    facts = [
        f"4-bit layers: {len(layers)}",
        f"quant_type={state.quant_type}",
        f"double_quant={state.nested}",
        f"compute_dtype={layers[0].compute_dtype}",
        f"weights on {layers[0].weight.device}",
    ]
    if state.quant_type != "nf4" or not state.nested:
        raise SystemExit("FAIL: expected NF4 with double quantisation: " + ", ".join(facts))
    if device == "cuda" and layers[0].weight.device.type != "cuda":
        raise SystemExit("FAIL: 4-bit weights are not on the GPU")
    return facts


def _train(job: JobSpec, *, device: str) -> dict[str, Any]:
    """One job through the worker's trainer; its figures and what it proved."""
    import torch

    from worker.progress import ProgressCallback
    from worker.trainer import build_trainer, save_adapter, write_result

    job.output_dir.mkdir(parents=True)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer, configs = build_trainer(job, ProgressCallback(job.progress_path, stop=Event()))
    facts = _assert_qlora(trainer.model, device=device)
    facts.append(f"optimizer={trainer.args.optim}, bf16={trainer.args.bf16}")
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    save_adapter(job, trainer, load_in_4bit=configs.load_in_4bit)
    tokens = int(trainer.state.num_input_tokens_seen)
    write_result(job, "succeeded", trained_tokens=tokens)
    last = [line for line in trainer.state.log_history if "loss" in line][-1]
    figures = {
        "method": job.method,
        "facts": facts,
        "steps": int(trainer.state.global_step),
        "train_seconds": seconds,
        "tokens": tokens,
        "tokens_per_second": tokens / seconds,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else 0.0,
        "last_loss": float(last["loss"]),
        "reward_margin": last.get("rewards/margins"),
    }
    del trainer
    if device == "cuda":
        torch.cuda.empty_cache()
    return figures


def run_check(
    *, device: str, steps: int, size: str = "tiny", workdir: Path, model: str | None = None
) -> dict[str, Any]:
    """Train (supervised, then DPO on top), serve, export; returns the figures it prints.

    The top-level keys describe the supervised job (as before DPO existed);
    ``jobs`` holds both, ``export`` the merged model's check.
    """
    import torch

    from worker.inference import ModelCache, adapter_key
    from worker.tiny_model import write_tiny_model

    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("FAIL: CUDA is not available to torch (use --cpu to check the CPU path)")
    base = model or str(write_tiny_model(workdir / "model", size=size))
    sft = JobSpec(
        job_id="ftjob-gpucheck-sft",
        base_model=base,
        training_file=_multi_turn(workdir / "chat.jsonl"),
        output_dir=workdir / "sft",
        params=check_params(steps),
        device=device,
    )
    dpo = JobSpec(
        job_id="ftjob-gpucheck-dpo",
        base_model=base,
        training_file=_pairs(workdir / "pairs.jsonl"),
        output_dir=workdir / "dpo",
        params=check_params(steps, beta=0.1),
        device=device,
        method="dpo",
        init_adapter=sft.adapter_dir,
    )
    jobs = [_train(sft, device=device), _train(dpo, device=device)]
    messages = [{"role": "user", "content": QUESTIONS[0][0]}]
    served = ModelCache(capacity=1, device=device).get(adapter_key(dpo.adapter_dir))
    reply = served.complete(messages, max_tokens=16, temperature=0, seed=0)
    del served
    exported = _check_export(dpo, workdir / "merged", messages=messages, device=device)
    return {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "model": model or f"tiny random Llama ({size})",
        **{k: jobs[0][k] for k in ("facts", "steps", "train_seconds", "tokens")},
        "tokens_per_second": jobs[0]["tokens_per_second"],
        "peak_gpu_mib": max(job["peak_gpu_mib"] for job in jobs),
        "jobs": jobs,
        "completion": reply.text,
        "completion_tokens": reply.completion_tokens,
        "export": exported,
    }


def _check_export(
    job: JobSpec, out_dir: Path, *, messages: list[dict[str, str]], device: str
) -> dict[str, Any]:
    """Merge the adapter into its base, load the folder with plain transformers, answer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from worker.export import export_adapter
    from worker.inference import adapter_key

    started = time.perf_counter()
    export_adapter(adapter_key(job.adapter_dir), out_dir, merge=True)
    seconds = time.perf_counter() - started
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    where = {"device_map": {"": 0}} if device == "cuda" else {}
    merged = AutoModelForCausalLM.from_pretrained(out_dir, dtype="auto", **where)
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(text, add_special_tokens=False, return_tensors="pt").to(merged.device)
    with torch.inference_mode():
        output = merged.generate(
            **inputs, do_sample=False, max_new_tokens=16, pad_token_id=tokenizer.pad_token_id
        )
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    size = sum(p.stat().st_size for p in out_dir.glob("*.safetensors")) / 2**20
    dtype = str(merged.dtype)
    return {"seconds": seconds, "safetensors_mib": size, "dtype": dtype, "answer": answer}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="Check the CPU path instead of CUDA.")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", choices=["tiny", "small"], default="tiny")
    parser.add_argument("--model", help="A small real model: local folder or cached hub id.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tunebot-gpu-check-") as tmp:
        result = run_check(
            device="cpu" if args.cpu else "cuda", steps=args.steps, size=args.size,
            workdir=Path(tmp), model=args.model,
        )  # fmt: skip
    print(f"device: {result['device']}, model: {result['model']}")
    for fact in result["facts"]:
        print(f"  {fact}")
    for job in result["jobs"]:
        margin = job["reward_margin"]
        extra = f", reward margin {margin:.2f}" if margin is not None else ""
        memory = f"{job['peak_gpu_mib']:.0f} MiB" if result["device"] != "cpu" else "n/a (CPU)"
        print(
            f"{job['method']}: {job['steps']} steps, {job['tokens']} tokens in "
            f"{job['train_seconds']:.1f}s: {job['tokens_per_second']:.0f} tokens/s, "
            f"peak GPU memory {memory}, last loss {job['last_loss']:.3f}{extra}"
        )
    print(f"adapter served: {result['completion']!r} ({result['completion_tokens']} tokens)")
    export = result["export"]
    print(
        f"merged export: {export['safetensors_mib']:.1f} MiB safetensors ({export['dtype']}) "
        f"in {export['seconds']:.1f}s; transformers answers {export['answer']!r}"
    )
    print(f"  {TINY_MODEL_NOTE}")
    print("OK: QLoRA supervised + DPO, serving and export work")


if __name__ == "__main__":
    main()
