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
figure with a goal (>= 0.9). Because other processes may share the CPU, runs
alternate (plain, worker, worker, plain, ...), medians are reported, and tokens
per CPU-second of the training process (immune to other load) are printed
too. Wall times (process start to adapter saved for the plain script, job
created to ``succeeded`` for the worker) include imports, validation and
polling, which the training-loop figures leave out. ``OMP_NUM_THREADS``
defaults to 1 for both (``--threads``): on shared cores OpenMP spin-waiting
otherwise dominates.

Usage::

    python benchmarks/worker_overhead.py [--steps 30] [--size small] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
            self.start, self.tokens0 = time.monotonic(), state.num_input_tokens_seen
            self.cpu0, self.rate, self.cpu_rate = time.process_time(), 0.0, 0.0

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
            if logs and "loss" in logs:
                tokens = state.num_input_tokens_seen - self.tokens0
                self.rate = tokens / (time.monotonic() - self.start)
                self.cpu_rate = tokens / (time.process_time() - self.cpu0)

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
    tokens = float(trainer.state.num_input_tokens_seen)
    return {
        "tokens_per_second": clock.rate,
        "tokens_per_cpu_second": clock.cpu_rate,
        "tokens": tokens,
    }


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
        file_id = client.files.create(file=data, purpose="fine-tune").id
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
        progress = worker.data_dir / "jobs" / job.id / "progress.jsonl"
        lines = [json.loads(line) for line in progress.read_text().splitlines()]
        final = [line for line in lines if line["kind"] == "metrics"][-1]
        return {
            "tokens_per_second": float(last.data["tokens_per_second"]),
            "tokens_per_cpu_second": final["run_tokens"] / final["run_cpu_seconds"],
            "tokens": float(job.trained_tokens or 0),
            "wall": wall,
        }
    finally:
        worker.stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--plain":
        model_dir, data, out, steps = sys.argv[2:6]
        print(json.dumps(plain_trl(model_dir, data, out, int(steps))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--size", choices=["tiny", "small"], default="small")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1", help="OMP_NUM_THREADS for both paths.")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = args.threads
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
            f"max_seq_length 256, cpu, OMP_NUM_THREADS={args.threads}, {args.repeats} repeat(s)"
        )
        runs: dict[str, list[dict[str, float]]] = {"plain": [], "worker": []}
        for repeat in range(args.repeats):
            order = ["plain", "worker"] if repeat % 2 == 0 else ["worker", "plain"]
            for kind in order:
                work = root / f"{kind}{repeat}"
                run = run_plain if kind == "plain" else run_worker
                result = run(model_dir, data, work, args.steps)
                runs[kind].append(result)
                print(
                    f"  run {repeat + 1} {kind:6}: {result['tokens_per_second']:.0f} tokens/s, "
                    f"{result['tokens_per_cpu_second']:.0f} tokens/CPU-s, "
                    f"{result['tokens']:.0f} tokens, wall {result['wall']:.1f}s"
                )
        report(runs, repeats=args.repeats)


def report(runs: dict[str, list[dict[str, float]]], *, repeats: int) -> None:
    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[kind])

    plain, worker = med("plain", "tokens_per_second"), med("worker", "tokens_per_second")
    plain_cpu, worker_cpu = (
        med("plain", "tokens_per_cpu_second"),
        med("worker", "tokens_per_cpu_second"),
    )
    print(f"plain TRL : {plain:.0f} tokens/s, {plain_cpu:.0f} tokens/CPU-s (median of {repeats})")
    print(f"worker API: {worker:.0f} tokens/s, {worker_cpu:.0f} tokens/CPU-s (median of {repeats})")
    print(f"ratio worker/plain tokens/s: {worker / plain:.3f} (goal >= 0.9)")
    print(f"ratio worker/plain tokens/CPU-s: {worker_cpu / plain_cpu:.3f}")
    plain_wall, worker_wall = med("plain", "wall"), med("worker", "wall")
    print(
        f"wall: plain {plain_wall:.1f}s (process start -> adapter saved), "
        f"worker {worker_wall:.1f}s (job created -> succeeded), "
        f"ratio plain/worker {plain_wall / worker_wall:.3f}"
    )


if __name__ == "__main__":
    main()
