"""Several processes per job: 2 DDP ranks over gloo train like one process, and save one adapter.

The same command shape the worker uses for ``n_gpus`` (``trainer_command``),
with ``cpu=True`` so it runs here: torchrun starts 2 ranks of the real trainer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.training.config import TrainingParams
from tests.worker.harness import REPO, write_chat_jsonl
from worker.job_spec import JobSpec
from worker.launchers.local import trainer_command

pytestmark = pytest.mark.slow

PARAMS = TrainingParams(
    n_epochs=4, batch_size=2, learning_rate_multiplier=25, lora_r=8, lora_alpha=16,
    lora_dropout=0.0, max_seq_length=64, seed=3,
)  # fmt: skip


def _losses(spec: JobSpec) -> list[float]:
    lines = spec.progress_path.read_text().splitlines()
    return [json.loads(x)["train_loss"] for x in lines if '"kind": "metrics"' in x]


def test_two_gloo_ranks_follow_the_single_process_loss_curve(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = write_chat_jsonl(tmp_path / "train.jsonl")
    specs = {
        name: JobSpec(
            job_id=f"ftjob-{name}",
            base_model=str(tiny_model_dir),
            training_file=data,
            output_dir=tmp_path / name,
            params=PARAMS,
            device="cpu",
        )
        for name in ("single", "ddp")
    }
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    processes = {}
    for name, spec in specs.items():
        spec.output_dir.mkdir()
        path = spec.write(spec.output_dir / "spec.json")
        command = trainer_command(
            sys.executable, path, n_processes=2 if name == "ddp" else 1, cpu=True
        )
        # The child keeps its own copy of the descriptor; ours closes at once.
        with (spec.output_dir / "trainer.log").open("wb") as log:
            processes[name] = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=spec.output_dir
            )
    for name, process in processes.items():
        assert process.wait(timeout=900) == 0, (specs[name].output_dir / "trainer.log").read_text()[
            -3000:
        ]

    single, ddp = _losses(specs["single"]), _losses(specs["ddp"])
    assert len(single) == len(ddp) == 20  # 10 examples / batch 2 x 4 epochs, rank 0 logs once
    assert single[-1] < single[0] / 2  # it learns
    for step, (a, b) in enumerate(zip(single, ddp, strict=True), start=1):
        assert abs(a - b) <= 0.05 + 0.05 * abs(a), f"step {step}: {a} vs {b}"
    result = json.loads(specs["ddp"].result_path.read_text())
    assert result["status"] == "succeeded"
    adapters = list(specs["ddp"].output_dir.rglob("adapter_model.safetensors"))
    final = [p for p in adapters if "checkpoint-" not in str(p)]
    assert final == [specs["ddp"].adapter_dir / "adapter_model.safetensors"]
