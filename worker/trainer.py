"""One training job in its own process: ``parse_job(path)`` -> ``main(job)``.

Why a subprocess: a crash, an out-of-memory kill or a cancel must never take
the API down, and SIGTERM/SIGKILL on a process group is the only reliable way
to stop CUDA work. The outcome goes to ``result.json`` (written atomically);
progress to ``progress.jsonl`` (see :mod:`worker.progress`).

Exit codes: 0 succeeded or cancelled cleanly, 1 failed (reason in the result).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from core.errors import TunebotError
from worker.job_spec import JobSpec

ADAPTER_META = "tunebot_adapter.json"
"""Written next to the adapter: which base it needs and at what precision."""

REF_ADAPTER = "ref"
"""The name TRL's DPOTrainer gives its frozen copy of an adapter being continued."""


def parse_job(path: Path) -> JobSpec:
    """Read the spec the runner wrote for this job."""
    return JobSpec.read(path)


def is_main_process() -> bool:
    """Rank 0 of a DDP run (or the only process): the one that writes files."""
    return int(os.environ.get("RANK", "0")) == 0


def write_result(job: JobSpec, status: str, **fields: Any) -> None:
    if not is_main_process():
        return
    tmp = job.result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"status": status, **fields}), encoding="utf-8")
    os.replace(tmp, job.result_path)


def load_model_and_tokenizer(
    base_model: str, *, model_kwargs: dict[str, Any], four_bit: bool, gradient_checkpointing: bool
) -> tuple[Any, Any]:
    """Load the base for training; shared by the worker and the plain-TRL benchmark."""
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(base_model, **model_kwargs)
    if four_bit:
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing
        )
    # CPUs with AVX512-BF16 mis-handle a 4-bit forward pass in eval mode before
    # the first training step (DESIGN.md, known traps), so switch first.
    model.train()
    return model, tokenizer


def build_trainer(job: JobSpec, callback: Any) -> tuple[Any, Any]:
    """The TRL trainer for ``job`` (``SFTTrainer``, or ``DPOTrainer`` for method "dpo")
    and the configs it was built from.

    A job that continues an ``ft:`` model loads that adapter and keeps training it;
    for DPO, TRL then copies it into a frozen "ref" adapter, so the reference is
    the model the job started from. A new adapter's DPO reference is the base
    (adapters disabled).
    """
    from datasets import Dataset

    from worker.hf_config import build_hf_configs, resolve_device

    device = resolve_device(job.device)
    configs = build_hf_configs(
        job.params,
        output_dir=job.checkpoints_dir,
        device=device,
        has_validation=job.validation_file is not None,
    )
    model, tokenizer = load_model_and_tokenizer(
        job.base_model,
        model_kwargs=configs.model_kwargs,
        four_bit=configs.load_in_4bit,
        gradient_checkpointing=configs.sft_kwargs["gradient_checkpointing"],
    )
    if job.init_adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(job.init_adapter), is_trainable=True)
    load = _loader(job)
    train = Dataset.from_list(load(job.training_file))
    valid = Dataset.from_list(load(job.validation_file)) if job.validation_file else None
    common: dict[str, Any] = {
        "model": model,
        "train_dataset": train,
        "eval_dataset": valid,
        "processing_class": tokenizer,
        # An adapter being continued is already on the model; TRL refuses a second config.
        "peft_config": None if job.init_adapter else configs.lora,
        "callbacks": [callback],
    }
    if job.method == "dpo":
        from trl import DPOTrainer

        return DPOTrainer(args=configs.dpo_config(), **common), configs
    from trl import SFTTrainer

    return SFTTrainer(args=configs.sft_config(), **common), configs


def _loader(job: JobSpec) -> Callable[[Path], list[dict[str, Any]]]:
    if job.method == "dpo":
        from worker.preference import load_preference_examples

        return load_preference_examples
    from worker.dataset import load_examples

    # Pre-tokenized by core, exactly as the validator counted them (worker/dataset.py).
    return functools.partial(load_examples, base_model=job.base_model)


def main(job: JobSpec) -> int:
    """Train ``job``; return the process exit code."""
    stop = threading.Event()

    def _on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Installed before the slow ML imports so an early cancel is still orderly.
    signal.signal(signal.SIGTERM, _on_sigterm)
    from worker.progress import ProgressCallback

    job.output_dir.mkdir(parents=True, exist_ok=True)
    callback = ProgressCallback(job.progress_path, stop=stop)
    try:
        trainer, configs = build_trainer(job, callback)
        if stop.is_set():
            write_result(job, "cancelled", trained_tokens=0)
            return 0
        resume = str(job.resume_from) if job.resume_from else None
        trainer.train(resume_from_checkpoint=resume)
        tokens = int(trainer.state.num_input_tokens_seen)
        if stop.is_set():
            write_result(job, "cancelled", trained_tokens=tokens, step=trainer.state.global_step)
            return 0
        save_adapter(job, trainer, load_in_4bit=configs.load_in_4bit)
    except Exception as exc:  # process boundary: record why, keep the traceback
        message = (
            exc.user_message() if isinstance(exc, TunebotError) else f"{type(exc).__name__}: {exc}"
        )
        if "out of memory" in message.lower():
            message += " Try a smaller batch_size or max_seq_length, or load_in_4bit=true."
        write_result(job, "failed", error=message[:2000])
        raise
    write_result(job, "succeeded", trained_tokens=tokens, step=trainer.state.global_step)
    return 0


def save_adapter(job: JobSpec, trainer: Any, *, load_in_4bit: bool) -> None:
    """Write the trained adapter, its tokenizer and :data:`ADAPTER_META` to ``job.adapter_dir``."""
    trainer.save_model(str(job.adapter_dir))  # rank 0 only, inside the Trainer
    if not is_main_process():
        return
    trainer.processing_class.save_pretrained(str(job.adapter_dir))
    # A continued DPO job also holds TRL's frozen "ref" copy; the model is "default" only.
    shutil.rmtree(job.adapter_dir / REF_ADAPTER, ignore_errors=True)
    meta = {"base_model": job.base_model, "load_in_4bit": load_in_4bit}
    (job.adapter_dir / ADAPTER_META).write_text(json.dumps(meta), encoding="utf-8")


def run(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m worker.train SPEC.json", file=sys.stderr)
        return 2
    return main(parse_job(Path(argv[0])))
