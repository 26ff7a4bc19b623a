"""Training parameters for the QLoRA worker: one dataclass, documented per field.

Why a core type: the Slack bot builds these from a modal, the worker receives
them in OpenAI's ``method.supervised.hyperparameters`` object, and the trainer
maps them to TRL/PEFT/bitsandbytes configs. One definition keeps the three in
step; each field's ``metadata["help"]`` is what people see in forms and docs.

Parameters, by topic:

* **Schedule** -- ``n_epochs``, ``batch_size``, ``learning_rate_multiplier``
  (times :data:`BASE_LEARNING_RATE`), ``max_steps`` (stop early, for smoke runs
  and benchmarks), ``seed``.
* **LoRA** -- ``lora_r``, ``lora_alpha``, ``lora_dropout``, ``target_modules``.
* **Memory** -- ``load_in_4bit`` (``None``: 4-bit NF4 on CUDA, full precision on
  CPU), ``max_seq_length`` (longer examples are truncated).
* **Checkpoints** -- ``checkpoint_steps`` (0: one checkpoint per epoch).
* **Preference (DPO) only** -- ``beta`` as on OpenAI, and ``sft_weight``, a
  worker extension: the weight of a supervised loss on the preferred answers
  added to the DPO loss (RPO; TRL ``loss_type=["sigmoid", "sft"]``). Plain DPO
  can lower the likelihood of both answers, so the worker keeps this term on by
  default (1.0); 0 gives plain DPO. Supervised jobs refuse both keys.

Invalid values raise :class:`~core.errors.TrainingError` (a ``ValueError`` is
never silently corrected or merely warned about).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from core.errors import TrainingError

BASE_LEARNING_RATE = 2e-4
"""LoRA's usual learning rate; ``learning_rate_multiplier`` scales it."""

AUTO_DEFAULTS: dict[str, Any] = {"n_epochs": 3, "batch_size": 4, "learning_rate_multiplier": 1.0}
"""What OpenAI's ``"auto"`` means on the worker (a fixed choice, documented)."""

METHODS = ("supervised", "dpo")
"""OpenAI's ``method.type`` values the worker trains."""

DPO_ONLY = ("beta", "sft_weight")
"""Hyperparameters that mean something only to a preference (DPO) job."""


def _field(default: Any, help_: str, *, low: float | None = None, high: float | None = None) -> Any:
    """A dataclass field whose metadata carries its help text and allowed range."""
    return field(default=default, metadata={"help": help_, "min": low, "max": high})


@dataclass(frozen=True)
class TrainingParams:
    """Hyperparameters of one worker fine-tuning job (see the module docstring)."""

    n_epochs: int = _field(3, "Passes over the training file (1-50).", low=1, high=50)
    batch_size: int = _field(4, "Examples per optimiser step (1-256).", low=1, high=256)
    learning_rate_multiplier: float = _field(
        1.0,
        f"Multiplies the base LoRA learning rate {BASE_LEARNING_RATE:g} (0 < x <= 100).",
        low=0.0,
        high=100.0,
    )
    lora_r: int = _field(16, "LoRA rank: size of the adapter (1-256).", low=1, high=256)
    lora_alpha: int = _field(
        32, "LoRA scaling; the update is scaled by alpha/r (1-1024).", low=1, high=1024
    )
    lora_dropout: float = _field(0.05, "Dropout on the LoRA input (0 <= x < 1).", low=0, high=0.999)
    target_modules: str = _field(
        "all-linear", 'Layers that get adapters: "all-linear" or comma-separated module names.'
    )
    load_in_4bit: bool | None = _field(
        None, "Quantise the base model to 4-bit NF4 (QLoRA). Unset: yes on CUDA, no on CPU."
    )
    max_seq_length: int = _field(
        1024, "Tokens per example; longer ones are truncated (16-131072).", low=16, high=131072
    )
    seed: int = _field(0, "Random seed (0 to 2**31-1).", low=0, high=2**31 - 1)
    max_steps: int | None = _field(
        None, "Stop after this many optimiser steps (unset: n_epochs decides).", low=1, high=10**7
    )
    checkpoint_steps: int = _field(
        0, "Save a checkpoint every N steps; 0 saves one per epoch.", low=0, high=10**7
    )
    n_gpus: int | None = _field(
        None,
        "GPUs for this job, one DDP process each; batch_size is split across them "
        "(unset: 1 on a GPU worker).",
        low=1,
        high=64,
    )
    beta: float = _field(
        0.1,
        "DPO only: how strongly the model is held to the reference model; higher stays "
        "closer (0 < x <= 10).",
        low=0.0,
        high=10.0,
    )
    sft_weight: float = _field(
        1.0,
        "DPO only (worker extension): weight of a supervised loss on the preferred answers "
        "added to the DPO loss, as in RPO; plain DPO can push both answers down. 0 gives "
        "plain DPO (0-100).",
        low=0.0,
        high=100.0,
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            _check_type(f.name, value, f.type)
            low, high = f.metadata.get("min"), f.metadata.get("max")
            number = isinstance(value, int | float) and not isinstance(value, bool)
            below = number and low is not None and value < low
            if below or (number and high is not None and value > high):
                raise TrainingError(
                    f"{f.name}={value!r} is out of range.", hint=str(f.metadata["help"])
                )
        if self.learning_rate_multiplier <= 0:
            raise TrainingError(
                "learning_rate_multiplier must be greater than 0.",
                hint=str(_help("learning_rate_multiplier")),
            )
        if self.beta <= 0:
            raise TrainingError("beta must be greater than 0.", hint=_help("beta"))
        if not self.target_modules.strip():
            raise TrainingError("target_modules must not be empty.", hint=_help("target_modules"))

    @property
    def learning_rate(self) -> float:
        """The optimiser's learning rate."""
        return BASE_LEARNING_RATE * self.learning_rate_multiplier

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_hyperparameters(
        cls,
        values: Mapping[str, Any] | None,
        *,
        seed: int | None = None,
        method: str = "supervised",
    ) -> TrainingParams:
        """Build params from an OpenAI ``hyperparameters`` object (``"auto"`` allowed).

        Parameters:
            values: ``method.<type>.hyperparameters`` as sent; ``None`` = all defaults.
            seed: the job's top-level ``seed``, when given.
            method: ``"supervised"`` or ``"dpo"``; only DPO accepts :data:`DPO_ONLY` keys.

        Raises:
            TrainingError: an unknown key or an invalid value, with a hint.
        """
        if method not in METHODS:
            raise TrainingError(
                f"Unknown method {method!r}.", hint=f"Supported: {', '.join(METHODS)}."
            )
        given = dict(values or {})
        known = {f.name for f in fields(cls)}
        if method != "dpo":
            known -= set(DPO_ONLY)
        unknown = sorted(set(given) - known)
        if unknown:
            misplaced = [k for k in unknown if k in DPO_ONLY]
            hint = f"Supported: {', '.join(sorted(known))}."
            if misplaced:
                hint = f"{', '.join(misplaced)}: method 'dpo' only. " + hint
            raise TrainingError(f"Unknown hyperparameter(s): {', '.join(unknown)}.", hint=hint)
        resolved = {
            k: AUTO_DEFAULTS.get(k, _default(k)) if v == "auto" else v
            for k, v in given.items()
            if v is not None
        }
        if seed is not None:
            resolved["seed"] = seed
        return cls(**resolved)


def describe_fields() -> dict[str, str]:
    """Field name -> help text, for forms and ``--help`` output."""
    return {f.name: str(f.metadata.get("help", "")) for f in fields(TrainingParams)}


def _help(name: str) -> str:
    return describe_fields()[name]


def _default(name: str) -> Any:
    return next(f.default for f in fields(TrainingParams) if f.name == name)


def _check_type(name: str, value: object, annotation: object) -> None:
    """Reject wrong JSON types instead of coercing them ("3" epochs is a mistake)."""
    text = str(annotation)
    if value is None:
        if "None" not in text:
            raise TrainingError(f"{name} must not be null.", hint=_help(name))
        return
    if text.startswith("bool"):
        ok = isinstance(value, bool)
    elif text.startswith("int"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif text.startswith("float"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise TrainingError(
            f"{name} has the wrong type ({type(value).__name__}).", hint=_help(name)
        )
