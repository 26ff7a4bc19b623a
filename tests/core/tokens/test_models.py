"""core.tokens.models: the model table: limits, aliases, prices."""

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.tokens import (
    known_models,
    resolve_model,
)


def test_table_has_the_known_limits() -> None:
    table = {spec.id: spec for spec in known_models()}
    assert table["gpt-3.5-turbo-0125"].max_tokens == 16385
    assert table["gpt-3.5-turbo-0125"].encoding == "cl100k_base"
    for model in ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1-2025-04-14"):
        assert (table[model].encoding, table[model].max_tokens) == ("o200k_base", 65536)
    assert all(s.price_per_1m and s.price_read_on and s.new_jobs_until for s in table.values())


def test_alias_and_exact_id_resolve_to_the_same_spec() -> None:
    assert resolve_model("gpt-4o-mini") == resolve_model("gpt-4o-mini-2024-07-18")
    assert resolve_model(" gpt-4.1-nano ").id == "gpt-4.1-nano-2025-04-14"


def test_fine_tuned_model_trains_like_its_base() -> None:
    spec = resolve_model("ft:gpt-4o-mini-2024-07-18:acme::abc123")
    assert spec.id == "ft:gpt-4o-mini-2024-07-18:acme::abc123"
    assert (spec.max_tokens, spec.price_per_1m) == (65536, 3.0)


def test_unknown_model_lists_known_ids() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_model("gpt-5-turbo-imaginary")
    message = raised.value.user_message()
    assert all(spec.id in message for spec in known_models())


def test_open_models_are_estimates_without_price(tmp_path: Path) -> None:
    spec = resolve_model("meta-llama/Llama-3.1-8B-Instruct")
    assert (spec.provider, spec.encoding, spec.price_per_1m) == ("open", "o200k_base", None)
    assert resolve_model(str(tmp_path)).provider == "open"


def test_price_override_by_alias_or_id() -> None:
    spec = resolve_model("gpt-4o-mini-2024-07-18", price_overrides={"gpt-4o-mini": 1.25})
    assert (spec.price_per_1m, spec.price_read_on) == (1.25, "override")
    both = {"gpt-4o-mini": 1.25, "gpt-4o-mini-2024-07-18": 2.0}
    assert resolve_model("gpt-4o-mini", price_overrides=both).price_per_1m == 2.0
    with pytest.raises(ConfigError, match="not a price"):
        resolve_model("gpt-4o-mini", price_overrides={"gpt-4o-mini": -1.0})
