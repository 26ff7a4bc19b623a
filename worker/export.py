"""Export a fine-tuned model (or checkpoint) out of the worker's data dir.

Why: the worker serves its own models, but a team that deploys elsewhere
(vLLM, TGI, llama.cpp converters, transformers) needs the weights in standard
folders. Two shapes:

* the PEFT adapter alone (``adapter_config.json`` + ``adapter_model.safetensors``,
  tokenizer and chat template), loaded on its base with ``PeftModel``;
* ``merge=True``: the adapter merged into its base (safetensors, config,
  generation config, tokenizer and chat template), a plain model folder that
  ``AutoModelForCausalLM.from_pretrained`` and vLLM load without PEFT.

The merge loads the base in its own saved dtype (``dtype="auto"``), never in
4-bit: an adapter trained with QLoRA is merged into full-precision weights,
which is the standard recipe, but greedy answers may then differ slightly from
the worker's 4-bit serving.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import TunebotError
from worker.inference import ModelKey
from worker.model_ids import resolve_adapter
from worker.store import WorkerStore

TRAINING_STATE = frozenset(
    {"optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin", "trainer_state.json"}
)
"""Files a checkpoint keeps to resume training; not part of the model."""


@dataclass(frozen=True)
class Exported:
    """What :func:`export_model` wrote."""

    out_dir: Path
    base_model: str
    merged: bool
    trained_in_4bit: bool


def export_model(data_dir: Path, model_id: str, out_dir: Path, *, merge: bool) -> Exported:
    """Write ``model_id`` (an ``ft:`` model or checkpoint id) to ``out_dir``.

    Parameters:
        data_dir: the worker's ``--data-dir``.
        model_id: as listed by ``GET /v1/models``.
        out_dir: a new or empty folder.
        merge: merge the adapter into its base instead of writing the adapter.

    Raises:
        TunebotError: no such model in ``data_dir``, or ``out_dir`` is not empty.
    """
    if not (data_dir / "worker.db").is_file():
        raise TunebotError(
            f"{data_dir} is not a worker data dir (no worker.db).",
            hint="Pass the --data-dir the worker runs with.",
        )
    key = resolve_adapter(WorkerStore(data_dir), data_dir / "jobs", model_id)
    if key is None or key.adapter is None:
        raise TunebotError(
            f"No fine-tuned model or checkpoint {model_id!r} in {data_dir}.",
            hint="Export a model of a succeeded job, as GET /v1/models lists it.",
        )
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise TunebotError(
            f"{out_dir} already exists and is not empty.", hint="Choose a new or empty folder."
        )
    return export_adapter(key, out_dir, merge=merge)


def export_adapter(key: ModelKey, out_dir: Path, *, merge: bool) -> Exported:
    """Write the adapter of ``key`` (or, with ``merge``, base plus adapter) to ``out_dir``."""
    assert key.adapter is not None
    out_dir.mkdir(parents=True, exist_ok=True)
    if merge:
        _write_merged(key, out_dir)
    else:
        _copy_adapter(Path(key.adapter), out_dir)
    return Exported(out_dir, key.base, merge, key.load_in_4bit)


def _copy_adapter(adapter: Path, out_dir: Path) -> None:
    for item in adapter.iterdir():
        # Folders are TRL's frozen "ref" copy of a continued adapter; not this model.
        if item.is_file() and item.name not in TRAINING_STATE:
            shutil.copy2(item, out_dir / item.name)


def _write_merged(key: ModelKey, out_dir: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert key.adapter is not None
    base = AutoModelForCausalLM.from_pretrained(key.base, dtype="auto")
    merged = PeftModel.from_pretrained(base, key.adapter).merge_and_unload()
    merged.save_pretrained(out_dir)  # safetensors, config and generation config
    AutoTokenizer.from_pretrained(key.adapter).save_pretrained(out_dir)  # + chat template
