"""How much the worker costs over a plain TRL script with the same settings.

Trains the same random Llama for the same number of steps twice, in one run:

1. **plain TRL**: a fresh Python process that loads the model, builds the
   ``SFTConfig``/``LoraConfig`` from the same :class:`TrainingParams` and calls
   ``SFTTrainer.train()``; nothing else.
2. **worker API**: ``tunebot worker`` in a subprocess, driven by the ``openai``
   SDK: upload, create the job, poll until it succeeds.

Throughput is measured the same way in both: tokens seen since
``on_train_begin`` divided by the seconds until the last logged step (the
worker reports it in its final ``metrics`` event). The ratio worker/plain is the
figure with a goal (>= 0.9). Wall times (process start to adapter saved for the
plain script, job created to ``succeeded`` for the worker) are printed too:
they include imports, validation and polling, which the training-loop figure
deliberately leaves out.

Usage::

    python benchmarks/worker_overhead.py [--steps 60] [--size small] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.training.config import TrainingParams  # noqa: E402

WORDS = "the quick brown fox jumps over lazy dog model answers training data".split()  # noqa: SIM905


def write_dataset(path: Path, *, examples: int = 64) -> Path:
    """Chat examples of ~100 tokens so steps are dominated by compute."""
    with path.open("w", encoding="utf-8") as handle:
        for i in range(examples):
            question = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(24))
            answer = " ".join(WORDS[(i * 3 + j) % len(WORDS)] for j in range(24))
            messages = [
                {"role": "system", "content": "Continue the sequence."},
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
            handle.write(json.dumps({"messages": messages}) + "\n")
    return path


def bench_params(steps: int) -> TrainingParams:
    return TrainingParams(
        n_epochs=50, max_steps=steps, batch_size=8, max_seq_length=256,
        learning_rate_multiplier=5, lora_r=16, lora_alpha=32, lora_dropout=0.0,
    )  # fmt: skip


def plain_trl(model_dir: str, data: str, out: str, steps: int) -> dict[str, float]:
    """The baseline: plain transformers + PEFT + TRL, no worker code on the hot path."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTTrainer

    from worker.hf_config import build_hf_configs

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            self.start, self.tokens0, self.rate = time.monotonic(), state.num_input_tokens_seen, 0.0

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
            if logs and "loss" in logs:
                elapsed = time.monotonic() - self.start
                self.rate = (state.num_input_tokens_seen - self.tokens0) / elapsed

    configs = build_hf_configs(bench_params(steps), output_dir=Path(out), device="cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, **configs.model_kwargs)
    rows = []
    for line in Path(data).read_text().splitlines():
        messages = json.loads(line)["messages"]
        rows.append({"prompt": messages[:-1], "completion": messages[-1:]})
    clock = Clock()
    trainer = SFTTrainer(
        model=model, args=configs.sft_config(), train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer, peft_config=configs.lora, callbacks=[clock],
    )  # fmt: skip
    trainer.train()
    trainer.save_model(str(Path(out) / "adapter"))
    return {"tokens_per_second": clock.rate, "tokens": float(trainer.state.num_input_tokens_seen)}


def run_plain(model_dir: Path, data: Path, work: Path, steps: int) -> dict[str, float]:
    started = time.monotonic()
    command = [
        sys.executable,
        __file__,
        "--plain",
        str(model_dir),
        str(data),
        str(work),
        str(steps),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO)
    result: dict[str, float] = json.loads(output.stdout.strip().splitlines()[-1])
    result["wall"] = time.monotonic() - started
    return result


def run_worker(model_dir: Path, data: Path, work: Path, steps: int) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    from tests.worker.harness import WorkerProcess, wait_final

    worker = WorkerProcess(work / "data", model_dir, work / "worker.log").start()
    try:
        client = worker.client()
        file_id = client.files.create(file=data.open("rb"), purpose="fine-tune").id
        hyper = bench_params(steps).to_dict()
        started = time.monotonic()
        job = client.fine_tuning.jobs.create(
            model="tiny", training_file=file_id,
            method={"type": "supervised", "supervised": {"hyperparameters": hyper}},  # type: ignore[typeddict-item]
        )  # fmt: skip
        job = wait_final(client, job.id, timeout=1800)
        wall = time.monotonic() - started
        if job.status != "succeeded":
            raise SystemExit(f"worker job {job.status}: {job.error}")
        page = client.fine_tuning.jobs.list_events(job.id, limit=100)
        last = next(e for e in page.data if e.type == "metrics" and "train_loss" in e.data)
        rate = float(last.data["tokens_per_second"])
        return {"tokens_per_second": rate, "tokens": float(job.trained_tokens or 0), "wall": wall}
    finally:
        worker.stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--plain":
        model_dir, data, out, steps = sys.argv[2:6]
        print(json.dumps(plain_trl(model_dir, data, out, int(steps))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--size", choices=["tiny", "small"], default="small")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from worker.tiny_model import SIZES, write_tiny_model

    with tempfile.TemporaryDirectory(prefix="tunebot-bench-") as tmp:
        root = Path(tmp)
        model_dir = write_tiny_model(root / "model", size=args.size)
        data = write_dataset(root / "train.jsonl")
        shape = SIZES[args.size]
        print(
            f"worker_overhead: {args.size} random Llama (hidden {shape.hidden_size}, "
            f"{shape.num_hidden_layers} layers), {args.steps} steps, batch 8, "
            f"max_seq_length 256, cpu, {args.repeats} repeat(s)"
        )
        plain_rates, worker_rates, plain_walls, worker_walls = [], [], [], []
        for repeat in range(args.repeats):
            plain = run_plain(model_dir, data, root / f"plain{repeat}", args.steps)
            worker = run_worker(model_dir, data, root / f"worker{repeat}", args.steps)
            plain_rates.append(plain["tokens_per_second"])
            worker_rates.append(worker["tokens_per_second"])
            plain_walls.append(plain["wall"])
            worker_walls.append(worker["wall"])
            print(
                f"  run {repeat + 1}: plain TRL {plain['tokens_per_second']:.0f} tokens/s "
                f"({plain['tokens']:.0f} tokens, wall {plain['wall']:.1f}s); "
                f"worker {worker['tokens_per_second']:.0f} tokens/s "
                f"({worker['tokens']:.0f} tokens, wall {worker['wall']:.1f}s)"
            )
        plain_rate, worker_rate = max(plain_rates), max(worker_rates)
        print(f"plain TRL : {plain_rate:.0f} tokens/s (training loop, best of {args.repeats})")
        print(f"worker API: {worker_rate:.0f} tokens/s (training loop, best of {args.repeats})")
        print(f"ratio worker/plain tokens/s: {worker_rate / plain_rate:.3f} (goal >= 0.9)")
        print(
            f"wall: plain {min(plain_walls):.1f}s (process start -> adapter saved), "
            f"worker {min(worker_walls):.1f}s (job created -> succeeded), "
            f"ratio plain/worker {min(plain_walls) / min(worker_walls):.3f}"
        )


if __name__ == "__main__":
    main()
