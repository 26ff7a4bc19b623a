"""core.tokens.billing: default epochs and billed tokens."""

import pytest

from core.errors import ConfigError
from core.tokens import (
    ModelSpec,
    default_epochs,
    estimate_billing,
    resolve_model,
)


@pytest.mark.parametrize(
    ("n_examples", "epochs"),
    [
        (1, 25),  # ceil(100/1)=100, capped at 25
        (4, 25),
        (5, 20),  # 5*3=15 < 100 -> ceil(100/5)
        (10, 10),
        (20, 5),
        (33, 4),  # 99 passes < 100 -> ceil(100/33)=4
        (34, 3),  # 102 passes: the 3-epoch target holds
        (8333, 3),  # 24,999 passes
        (8334, 2),  # 25,002 > 25,000 -> 25000//8334
        (12500, 2),
        (12501, 1),
        (1_000_000, 1),
    ],
)
def test_default_epochs(n_examples: int, epochs: int) -> None:
    assert default_epochs(n_examples) == epochs


def _spec(limit: int, price: float | None) -> ModelSpec:
    return ModelSpec("m", "openai", "o200k_base", limit, price, "2026-11-26", True)


def test_billing_clamps_each_example_to_the_limit() -> None:
    bill = estimate_billing(iter([100, 200, 5000]), spec=_spec(1000, 3.0), n_examples=50)
    assert bill.billed_tokens_per_epoch == 100 + 200 + 1000
    assert bill.epochs == 3  # default_epochs(50)
    assert bill.trained_tokens == 3900
    assert bill.cost_usd == pytest.approx(3900 / 1e6 * 3.0)


def test_billing_epochs_and_unknown_price() -> None:
    bill = estimate_billing([10] * 10, spec=_spec(1000, None))
    assert (bill.epochs, bill.trained_tokens, bill.cost_usd) == (10, 1000, None)
    assert estimate_billing([10], spec=_spec(1000, None), epochs=2).trained_tokens == 20
    with pytest.raises(ConfigError):
        estimate_billing([10], spec=_spec(1000, None), epochs=26)
    with pytest.raises(ConfigError):
        estimate_billing([], spec=_spec(1000, None))


def test_billing_with_overridden_price() -> None:
    spec = resolve_model("gpt-4o-mini", price_overrides={"gpt-4o-mini": 10.0})
    bill = estimate_billing([50_000] * 4, spec=spec, epochs=1)
    assert bill.cost_usd == pytest.approx(200_000 / 1e6 * 10.0)
    assert estimate_billing([70_000], spec=spec, epochs=1).billed_tokens_per_epoch == 65_536
