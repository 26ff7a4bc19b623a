"""Prove the QLoRA path end to end on this machine, offline, in a few minutes.

Why: a new GPU box fails in ways unit tests on CPU cannot see (CUDA build of
torch, bitsandbytes kernels, bf16 support, memory). This writes the tiny
model, trains it in 4-bit NF4 for a few steps through the worker's own trainer,
serves the adapter for one chat completion, and prints tokens/s and peak GPU
memory. ``--cpu`` runs the same code on CPU (4-bit via bitsandbytes' CPU
backend) so the path can be checked where no GPU exists.

Usage::

    python -m worker.scripts.gpu_check [--cpu] [--steps 20] [--size tiny|small]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from core.training.config import TrainingParams
from worker.job_spec import JobSpec

QUESTIONS = [(f"What is item {i}?", f"Item {i} is number {i * 7 % 13}.") for i in range(16)]


# The check proves the path (train, save, serve), not quality: say so next to the answer.
TINY_MODEL_NOTE = (
    "(The tiny model is random weights trained for a few steps: its answers are noise. "
    "That is expected; this check proves training and serving work, not quality.)"
)


def check_params(steps: int) -> TrainingParams:
    """QLoRA forced on, a few steps, one checkpoint at the end."""
    return TrainingParams(
        n_epochs=50,
        max_steps=steps,
        batch_size=8,
        learning_rate_multiplier=10,
        load_in_4bit=True,
        max_seq_length=128,
        checkpoint_steps=steps,
    )


def _dataset(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for question, answer in QUESTIONS:
            messages = [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
            handle.write(json.dumps({"messages": messages}) + "\n")
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


def run_check(*, device: str, steps: int, size: str = "tiny", workdir: Path) -> dict[str, Any]:
    """Train, serve and measure; returns the figures it prints."""
    import torch

    from worker.inference import ModelCache, adapter_key
    from worker.tiny_model import write_tiny_model
    from worker.trainer import build_trainer, write_result

    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("FAIL: CUDA is not available to torch (use --cpu to check the CPU path)")
    model_dir = write_tiny_model(workdir / "model", size=size)
    job = JobSpec(
        job_id="ftjob-gpucheck",
        base_model=str(model_dir),
        training_file=_dataset(workdir / "train.jsonl"),
        output_dir=workdir / "job",
        params=check_params(steps),
        device=device,
    )
    job.output_dir.mkdir(parents=True)
    from threading import Event

    from worker.progress import ProgressCallback

    trainer, _ = build_trainer(job, ProgressCallback(job.progress_path, stop=Event()))
    facts = _assert_qlora(trainer.model, device=device)
    facts.append(f"optimizer={trainer.args.optim}, bf16={trainer.args.bf16}")
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    trainer.save_model(str(job.adapter_dir))
    from worker.trainer import ADAPTER_META

    meta = {"base_model": job.base_model, "load_in_4bit": True}
    (job.adapter_dir / ADAPTER_META).write_text(json.dumps(meta), encoding="utf-8")
    write_result(job, "succeeded", trained_tokens=int(trainer.state.num_input_tokens_seen))
    tokens = int(trainer.state.num_input_tokens_seen)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else 0.0
    del trainer
    served = ModelCache(capacity=1, device=device).get(adapter_key(job.adapter_dir))
    question = QUESTIONS[0][0]
    reply = served.complete(
        [{"role": "user", "content": question}], max_tokens=16, temperature=0, seed=0
    )
    return {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "facts": facts,
        "steps": steps,
        "train_seconds": seconds,
        "tokens": tokens,
        "tokens_per_second": tokens / seconds,
        "peak_gpu_mib": peak,
        "completion": reply.text,
        "completion_tokens": reply.completion_tokens,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="Check the CPU path instead of CUDA.")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", choices=["tiny", "small"], default="tiny")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tunebot-gpu-check-") as tmp:
        result = run_check(
            device="cpu" if args.cpu else "cuda", steps=args.steps, size=args.size,
            workdir=Path(tmp),
        )  # fmt: skip
    print(f"device: {result['device']}")
    for fact in result["facts"]:
        print(f"  {fact}")
    print(
        f"trained {result['steps']} steps, {result['tokens']} tokens in "
        f"{result['train_seconds']:.1f}s: {result['tokens_per_second']:.0f} tokens/s"
    )
    print(f"peak GPU memory: {result['peak_gpu_mib']:.0f} MiB")
    print(f"adapter served: {result['completion']!r} ({result['completion_tokens']} tokens)")
    print(f"  {TINY_MODEL_NOTE}")
    print("OK: QLoRA path works")


if __name__ == "__main__":
    main()
