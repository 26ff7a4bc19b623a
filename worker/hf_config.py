"""The one place that maps :class:`TrainingParams` to TRL, PEFT and bitsandbytes.

Why one function: the trainer, the GPU check and the benchmark's plain-TRL
baseline must train with exactly the same settings, and the QLoRA recipe
(NF4, double quantisation, bf16 compute, paged optimiser) should be written
down once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.training.config import TrainingParams


@dataclass(frozen=True)
class HFConfigs:
    """Library configs for one job, plus how to load the base model."""

    sft_kwargs: dict[str, Any]
    """``SFTConfig`` arguments; kept as a dict so they can be checked on any host
    (``SFTConfig(bf16=True)`` refuses to exist on a machine without a GPU)."""
    dpo_kwargs: dict[str, Any]
    """``DPOConfig`` arguments: the same schedule and precision, plus DPO's loss."""
    lora: Any  # peft.LoraConfig
    quantization: Any | None  # transformers.BitsAndBytesConfig
    model_kwargs: dict[str, Any]
    load_in_4bit: bool

    def sft_config(self) -> Any:
        """The ``trl.SFTConfig`` for this job."""
        from trl import SFTConfig

        return SFTConfig(**self.sft_kwargs)

    def dpo_config(self) -> Any:
        """The ``trl.DPOConfig`` for this job."""
        from trl import DPOConfig

        return DPOConfig(**self.dpo_kwargs)


def resolve_device(requested: str = "auto") -> str:
    """ "cuda" when a GPU is visible (or asked for), else "cpu"."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def uses_4bit(params: TrainingParams, device: str) -> bool:
    """QLoRA by default on CUDA; on CPU only when asked (DESIGN.md)."""
    return params.load_in_4bit if params.load_in_4bit is not None else device == "cuda"


def compute_dtype(device: str) -> Any:
    """bf16 on CUDA (fp16 on GPUs without bf16, e.g. T4), fp32 on CPU."""
    import torch

    if device != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def quantization_config(device: str) -> Any:
    """4-bit NF4 with double quantisation, computing in :func:`compute_dtype`."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype(device),
    )


def model_load_kwargs(*, device: str, load_in_4bit: bool) -> dict[str, Any]:
    """``from_pretrained`` kwargs shared by training and serving (same precision)."""
    kwargs: dict[str, Any] = {"dtype": compute_dtype(device)}
    if device == "cuda":
        # Under `accelerate launch` each DDP rank loads (and 4-bit quantises) its
        # own copy on its own GPU; CUDA_VISIBLE_DEVICES already picked them.
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    if load_in_4bit:
        kwargs["quantization_config"] = quantization_config(device)
    return kwargs


def ddp_kwargs() -> dict[str, Any]:
    """Trainer settings for a run under ``accelerate launch`` with several processes.

    ``split_batches`` keeps ``batch_size`` the global batch (each rank takes its
    share), so a job's schedule and loss curve match a single-process run.
    LoRA leaves most base weights frozen, so DDP must not search for unused ones.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return {}
    return {"accelerator_config": {"split_batches": True}, "ddp_find_unused_parameters": False}


def build_hf_configs(
    params: TrainingParams,
    *,
    output_dir: Path,
    device: str,
    has_validation: bool = False,
) -> HFConfigs:
    """Map ``params`` to ``SFTConfig``/``DPOConfig``, ``LoraConfig`` and the 4-bit config.

    Parameters:
        params: validated training parameters.
        output_dir: where the trainer writes ``checkpoint-N`` folders.
        device: "cuda" or "cpu" (see :func:`resolve_device`).
        has_validation: evaluate at each checkpoint when a validation file exists.
    """
    import torch
    from peft import LoraConfig

    cuda = device == "cuda"
    half = compute_dtype(device)
    four_bit = uses_4bit(params, device)
    per_steps = params.checkpoint_steps > 0
    strategy = "steps" if per_steps else "epoch"
    names = params.target_modules
    targets: str | list[str] = names
    if names != "all-linear":
        targets = [t.strip() for t in names.split(",") if t.strip()]
    sft = dict(
        output_dir=str(output_dir),
        num_train_epochs=params.n_epochs,
        max_steps=params.max_steps or -1,
        per_device_train_batch_size=params.batch_size,
        per_device_eval_batch_size=params.batch_size,
        learning_rate=params.learning_rate,
        seed=params.seed,
        data_seed=params.seed,
        max_length=params.max_seq_length,
        completion_only_loss=None,  # rows come with labels (worker/dataset.py); TRL keeps them
        logging_steps=1,
        logging_strategy="steps",
        save_strategy=strategy,
        save_steps=params.checkpoint_steps if per_steps else 500,
        eval_strategy=strategy if has_validation else "no",
        eval_steps=params.checkpoint_steps if per_steps else None,
        include_num_input_tokens_seen="non_padding",
        bf16=half == torch.bfloat16,
        fp16=half == torch.float16,
        use_cpu=not cuda,
        gradient_checkpointing=cuda,
        gradient_checkpointing_kwargs={"use_reentrant": False} if cuda else None,
        optim="paged_adamw_8bit" if cuda and four_bit else "adamw_torch",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        **ddp_kwargs(),
    )
    dpo = {k: v for k, v in sft.items() if k != "completion_only_loss"}
    dpo.update(dpo_loss(params))
    lora = LoraConfig(
        r=params.lora_r,
        lora_alpha=params.lora_alpha,
        lora_dropout=params.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return HFConfigs(
        sft_kwargs=sft,
        dpo_kwargs=dpo,
        lora=lora,
        quantization=quantization_config(device) if four_bit else None,
        model_kwargs=model_load_kwargs(device=device, load_in_4bit=four_bit),
        load_in_4bit=four_bit,
    )


def dpo_loss(params: TrainingParams) -> dict[str, Any]:
    """DPO's sigmoid loss plus, unless ``sft_weight`` is 0, TRL's supervised term on
    the preferred answers (RPO): plain DPO can lower both answers' likelihood."""
    if params.sft_weight == 0:
        return {"beta": params.beta, "loss_type": ["sigmoid"], "loss_weights": None}
    return {
        "beta": params.beta,
        "loss_type": ["sigmoid", "sft"],
        "loss_weights": [1.0, params.sft_weight],
    }
