"""What a fine-tuning job will bill: tokens per epoch, epochs, trained tokens, cost."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import ConfigError
from core.tokens.models import ModelSpec

#: OpenAI's ``n_epochs="auto"``: aim for this many epochs ...
TARGET_EPOCHS = 3
#: ... but see every dataset at least/at most this many example-passes in total ...
MIN_EXAMPLE_PASSES = 100
MAX_EXAMPLE_PASSES = 25_000
#: ... with epochs kept in this range.
MIN_EPOCHS, MAX_EPOCHS = 1, 25


def default_epochs(n_examples: int) -> int:
    """Epochs OpenAI picks for ``n_epochs="auto"``.

    Three epochs, unless that makes fewer than 100 example-passes (small files
    get more epochs: ``ceil(100 / n)``, at most 25) or more than 25,000 (large
    files get fewer: ``25000 // n``, at least 1). For example 10 examples -> 10
    epochs, 20 -> 5, 40 -> 3, 8,334 -> 2, 25,000 -> 1, 1,000,000 -> 1.

    Raises:
        ConfigError: ``n_examples`` is not positive.
    """
    if n_examples <= 0:
        raise ConfigError(f"Cannot pick epochs for {n_examples} examples.")
    if n_examples * TARGET_EPOCHS < MIN_EXAMPLE_PASSES:
        return min(MAX_EPOCHS, math.ceil(MIN_EXAMPLE_PASSES / n_examples))
    if n_examples * TARGET_EPOCHS > MAX_EXAMPLE_PASSES:
        return max(MIN_EPOCHS, MAX_EXAMPLE_PASSES // n_examples)
    return TARGET_EPOCHS


@dataclass(frozen=True)
class BillingEstimate:
    """A job's expected bill. ``cost_usd`` is ``None`` when the model has no known price."""

    billed_tokens_per_epoch: int
    epochs: int
    trained_tokens: int
    cost_usd: float | None


def estimate_billing(
    per_example_tokens: Iterable[int],
    *,
    spec: ModelSpec,
    epochs: int | None = None,
    n_examples: int | None = None,
) -> BillingEstimate:
    """Billed tokens and cost for a file whose examples have these token counts.

    OpenAI bills each example up to the model's limit (longer ones are
    truncated, not refused at billing time), every epoch.

    Parameters:
        per_example_tokens: total tokens of each example (consumed once, so a
            generator over a large file is fine).
        spec: the target model (limit and price).
        epochs: epochs the person asked for; default :func:`default_epochs`.
        n_examples: number of examples, when known separately (e.g. the
            validator counted them); default: the number of items seen.

    Raises:
        ConfigError: ``epochs`` outside 1..25, or no examples to pick epochs for.
    """
    limit = spec.max_tokens
    billed = 0
    seen = 0
    for tokens in per_example_tokens:
        billed += tokens if tokens < limit else limit
        seen += 1
    if epochs is None:
        epochs = default_epochs(n_examples if n_examples is not None else seen)
    elif not MIN_EPOCHS <= epochs <= MAX_EPOCHS:
        raise ConfigError(
            f"{epochs} epochs is outside what fine-tuning accepts.",
            hint=f"Pick between {MIN_EPOCHS} and {MAX_EPOCHS} epochs.",
        )
    trained = billed * epochs
    cost = None if spec.price_per_1m is None else trained / 1_000_000 * spec.price_per_1m
    return BillingEstimate(
        billed_tokens_per_epoch=billed, epochs=epochs, trained_tokens=trained, cost_usd=cost
    )
