"""The real QLoRA path: 4-bit NF4 on CUDA (skipped without a GPU), and on CPU.

The CPU test runs the same check as ``worker/scripts/gpu_check.sh --cpu`` so
the code path (quantised load, k-bit preparation, LoRA, a multi-turn supervised
job, a DPO job continuing its adapter, adapter serving at the training
precision, merged export) is exercised everywhere except bitsandbytes' CUDA
kernels.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from worker.scripts.gpu_check import run_check


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")
def test_qlora_on_cuda(tmp_path: Path) -> None:
    result = run_check(device="cuda", steps=20, workdir=tmp_path)
    assert "quant_type=nf4" in result["facts"] and "double_quant=True" in result["facts"]
    assert any("paged_adamw_8bit" in fact.lower() for fact in result["facts"])
    assert result["peak_gpu_mib"] > 0 and result["completion_tokens"] >= 1
    assert [job["method"] for job in result["jobs"]] == ["supervised", "dpo"]
    assert all(job["peak_gpu_mib"] > 0 for job in result["jobs"])


@pytest.mark.slow
def test_4bit_path_on_cpu(tmp_path: Path) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    result = run_check(device="cpu", steps=2, workdir=tmp_path)
    signal.signal(signal.SIGTERM, previous)
    assert "quant_type=nf4" in result["facts"] and "double_quant=True" in result["facts"]
    assert result["tokens"] > 0 and result["completion_tokens"] >= 1
    sft, dpo = result["jobs"]
    assert (sft["method"], dpo["method"]) == ("supervised", "dpo") and dpo["tokens"] > 0
    assert dpo["reward_margin"] is not None  # DPO's metrics, on a 4-bit continued adapter
    assert result["export"]["safetensors_mib"] > 0 and result["export"]["dtype"] == "torch.float32"
