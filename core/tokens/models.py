"""The model table: what each target model's tokens cost and how many fit in one example.

The table is data (``core/models.json``), not code branches, so a new snapshot
or a price change is a one-line edit. Prices go stale: ``price_read_on`` says
when each was read and ``Settings.price_overrides`` (``TUNEBOT_PRICES``) replaces
them without a release.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from core.errors import ConfigError
from core.tokens.encodings import SUPPORTED_ENCODINGS

Provider = Literal["openai", "open"]

#: Tokens per example assumed for open models (the worker's QLoRA training); a
#: conservative sequence length that fits a 7-8B model in 4 bits on one 24 GB GPU.
OPEN_MODEL_MAX_TOKENS = 4096
#: Open models are counted with o200k_base unless a local tokenizer is given:
#: a stated estimate (``provider == "open"`` tells the report to say so).
OPEN_MODEL_ENCODING = "o200k_base"


@dataclass(frozen=True)
class ModelSpec:
    """One target model.

    Parameters:
        id: the model id as the provider names it (a dated snapshot for OpenAI,
            a Hugging Face id or local path for open models).
        provider: ``"openai"`` (also Azure OpenAI) or ``"open"`` (the worker).
        encoding: tiktoken encoding name. For open models an estimate.
        max_tokens: most tokens one training example may have.
        price_per_1m: training price in USD per 1M trained tokens, ``None`` when unknown.
        price_read_on: ISO date the price was read (``"override"`` when set by config).
        fine_tunable: whether new fine-tuning jobs can be created for it.
        aliases: other names people use ("gpt-4o-mini").
        new_jobs_until: ISO date after which the provider stops creating new
            fine-tuning jobs (OpenAI: 2027-01-06 for everyone), ``None`` if none known.
    """

    id: str
    provider: Provider
    encoding: str
    max_tokens: int
    price_per_1m: float | None
    price_read_on: str | None
    fine_tunable: bool
    aliases: tuple[str, ...] = ()
    new_jobs_until: str | None = None


def known_models() -> list[ModelSpec]:
    """Every model in the table, in table order (a fresh list; the specs are frozen)."""
    return list(_table())


def resolve_model(
    model_id: str, *, price_overrides: Mapping[str, float] | None = None
) -> ModelSpec:
    """The spec for ``model_id``: an exact id, an alias, an ``ft:`` model or an open model.

    Parameters:
        model_id: ``"gpt-4o-mini-2024-07-18"``, an alias (``"gpt-4o-mini"``), a
            fine-tuned OpenAI model (``"ft:gpt-4o-mini-2024-07-18:org::abc"``,
            which trains like its base), or an open model: a Hugging Face id
            (``"meta-llama/Llama-3.1-8B-Instruct"``) or a local folder. Open
            models get ``encoding="o200k_base"`` as an estimate (use
            :class:`~core.tokens.HFTokenCounter` for exact counts),
            ``max_tokens=OPEN_MODEL_MAX_TOKENS`` and no price.
        price_overrides: USD per 1M training tokens keyed by id or alias
            (``Settings.price_overrides``); the id wins over an alias.

    Raises:
        ConfigError: unknown model (the message lists the known ids), or an
            override that is not a finite, non-negative number.
    """
    name = model_id.strip() if isinstance(model_id, str) else ""
    if not name:
        raise ConfigError("No target model given.", hint=f"Use one of: {_known_ids()}.")
    spec = _lookup(name)
    if spec is None:
        raise ConfigError(
            f"Unknown target model {name!r}.",
            hint=f"Use one of: {_known_ids()}, or a Hugging Face id (org/name) or local "
            "folder for an open model trained on the worker.",
        )
    return _apply_override(spec, price_overrides or {})


def _lookup(name: str) -> ModelSpec | None:
    by_name = _by_name()
    if name in by_name:
        return by_name[name]
    if name.startswith("ft:"):
        # ft:BASE:org:suffix:id; OpenAI can continue training a fine-tuned model,
        # at the base model's limit and price.
        base = by_name.get(name.split(":")[1]) if name.count(":") >= 2 else None
        return replace(base, id=name, aliases=()) if base else None
    if "/" in name or "\\" in name or Path(name).expanduser().is_dir():
        return ModelSpec(
            id=name,
            provider="open",
            encoding=OPEN_MODEL_ENCODING,
            max_tokens=OPEN_MODEL_MAX_TOKENS,
            price_per_1m=None,
            price_read_on=None,
            fine_tunable=True,
        )
    return None


def _apply_override(spec: ModelSpec, overrides: Mapping[str, float]) -> ModelSpec:
    key = next((k for k in (spec.id, *spec.aliases) if k in overrides), None)
    if key is None:
        return spec
    price = overrides[key]
    if (
        isinstance(price, bool)
        or not isinstance(price, int | float)
        or not math.isfinite(price)
        or price < 0
    ):
        raise ConfigError(
            f"The price override for {key!r} is {price!r}, not a price.",
            hint='Set TUNEBOT_PRICES to JSON with USD per 1M tokens, e.g. {"gpt-4o-mini": 3.0}.',
        )
    return replace(spec, price_per_1m=float(price), price_read_on="override")


def _known_ids() -> str:
    return ", ".join(spec.id for spec in _table())


@functools.cache
def _by_name() -> dict[str, ModelSpec]:
    return {name: spec for spec in _table() for name in (spec.id, *spec.aliases)}


@functools.cache
def _table() -> tuple[ModelSpec, ...]:
    """Read and check ``core/models.json`` once; a broken table is a packaging bug."""
    raw = json.loads(resources.files("core").joinpath("models.json").read_text("utf-8"))
    specs = tuple(_spec_from_row(row) for row in raw["models"])
    names = [name for spec in specs for name in (spec.id, *spec.aliases)]
    if len(names) != len(set(names)):
        raise ConfigError("core/models.json names a model or alias twice.")
    return specs


def _spec_from_row(row: dict[str, Any]) -> ModelSpec:
    spec = ModelSpec(
        id=str(row["id"]),
        provider=row["provider"],
        encoding=str(row["encoding"]),
        max_tokens=int(row["max_tokens"]),
        price_per_1m=None if row.get("price_per_1m") is None else float(row["price_per_1m"]),
        price_read_on=row.get("price_read_on"),
        fine_tunable=bool(row["fine_tunable"]),
        aliases=tuple(row.get("aliases", ())),
        new_jobs_until=row.get("new_jobs_until"),
    )
    if (
        spec.provider not in ("openai", "open")
        or spec.encoding not in SUPPORTED_ENCODINGS
        or spec.max_tokens <= 0
    ):
        raise ConfigError(f"core/models.json: bad provider, encoding or max_tokens for {spec.id}.")
    return spec
