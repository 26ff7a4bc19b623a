"""TrainingParams map to TRL/PEFT/bitsandbytes configs in one place."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.training.config import BASE_LEARNING_RATE, TrainingParams
from worker.hf_config import build_hf_configs, uses_4bit


def test_cpu_defaults_train_in_full_precision(tmp_path: Path) -> None:
    params = TrainingParams(n_epochs=2, batch_size=3, learning_rate_multiplier=2.0, lora_r=4,
                            lora_alpha=8, lora_dropout=0.1, max_seq_length=256, seed=5)  # fmt: skip
    configs = build_hf_configs(params, output_dir=tmp_path, device="cpu")
    sft, lora = configs.sft_config(), configs.lora
    assert not configs.load_in_4bit and configs.quantization is None
    assert sft.num_train_epochs == 2 and sft.per_device_train_batch_size == 3
    assert sft.learning_rate == 2 * BASE_LEARNING_RATE and sft.seed == 5
    assert sft.max_length == 256 and sft.save_strategy == "epoch" and sft.eval_strategy == "no"
    assert sft.use_cpu and not sft.bf16 and not sft.gradient_checkpointing
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (4, 8, 0.1)
    assert lora.target_modules == "all-linear" and lora.task_type == "CAUSAL_LM"
    assert configs.model_kwargs["dtype"] == torch.float32


def test_cuda_gets_qlora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    params = TrainingParams(checkpoint_steps=50, target_modules="q_proj, v_proj")
    configs = build_hf_configs(params, output_dir=tmp_path, device="cuda", has_validation=True)
    bnb = configs.quantization
    assert configs.load_in_4bit and uses_4bit(params, "cuda")
    assert bnb.load_in_4bit and bnb.bnb_4bit_quant_type == "nf4"
    assert bnb.bnb_4bit_use_double_quant and bnb.bnb_4bit_compute_dtype == torch.bfloat16
    sft = configs.sft_kwargs  # SFTConfig(bf16=True) cannot be built on a CPU-only host
    assert sft["optim"] == "paged_adamw_8bit" and sft["bf16"] and not sft["use_cpu"]
    assert sft["gradient_checkpointing"]
    assert sft["gradient_checkpointing_kwargs"] == {"use_reentrant": False}
    assert sft["save_strategy"] == "steps" and sft["save_steps"] == 50
    assert sft["eval_strategy"] == "steps" and sft["eval_steps"] == 50
    assert set(configs.lora.target_modules) == {"q_proj", "v_proj"}
    assert configs.model_kwargs["device_map"] == {"": 0}


def test_4bit_on_cpu_only_when_asked(tmp_path: Path) -> None:
    assert not uses_4bit(TrainingParams(), "cpu")
    configs = build_hf_configs(TrainingParams(load_in_4bit=True), output_dir=tmp_path, device="cpu")
    assert configs.load_in_4bit and configs.sft_config().optim == "adamw_torch"
    assert configs.quantization.bnb_4bit_compute_dtype == torch.float32


def test_gpus_without_bf16_use_fp16(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    configs = build_hf_configs(TrainingParams(), output_dir=tmp_path, device="cuda")
    assert configs.sft_kwargs["fp16"] and not configs.sft_kwargs["bf16"]
    assert configs.quantization.bnb_4bit_compute_dtype == torch.float16
    assert configs.model_kwargs["dtype"] == torch.float16


def test_dpo_keeps_the_schedule_and_adds_the_supervised_term(tmp_path: Path) -> None:
    params = TrainingParams(n_epochs=4, batch_size=2, max_seq_length=128, beta=0.3, sft_weight=0.5)
    configs = build_hf_configs(params, output_dir=tmp_path, device="cpu", has_validation=True)
    dpo = configs.dpo_config()
    assert dpo.beta == 0.3 and dpo.loss_type == ["sigmoid", "sft"] and dpo.loss_weights == [1, 0.5]
    assert dpo.num_train_epochs == 4 and dpo.per_device_train_batch_size == 2
    assert dpo.max_length == 128 and dpo.learning_rate == BASE_LEARNING_RATE
    assert dpo.eval_strategy == "epoch" and dpo.use_cpu and not dpo.bf16
    plain = build_hf_configs(TrainingParams(sft_weight=0), output_dir=tmp_path, device="cpu")
    assert plain.dpo_kwargs["loss_type"] == ["sigmoid"] and plain.dpo_kwargs["loss_weights"] is None
