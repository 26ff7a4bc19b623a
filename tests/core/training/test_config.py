"""TrainingParams: OpenAI hyperparameters in, invalid values refused with a hint."""

from __future__ import annotations

import pytest

from core.errors import TrainingError
from core.training.config import AUTO_DEFAULTS, TrainingParams, describe_fields


def test_auto_and_seed() -> None:
    params = TrainingParams.from_hyperparameters(
        {"n_epochs": "auto", "batch_size": 2, "learning_rate_multiplier": "auto"}, seed=9
    )
    assert params.n_epochs == AUTO_DEFAULTS["n_epochs"] and params.batch_size == 2
    assert params.seed == 9 and params.learning_rate_multiplier == 1.0
    assert TrainingParams.from_hyperparameters(None) == TrainingParams()


@pytest.mark.parametrize(
    "given",
    [
        {"n_epochs": 0},
        {"n_epochs": "3"},
        {"batch_size": 1.5},
        {"learning_rate_multiplier": 0},
        {"lora_dropout": 1.0},
        {"load_in_4bit": 1},
        {"max_seq_length": 8},
        {"target_modules": " "},
        {"warmup_ratio": 0.1},
    ],
)
def test_invalid_values_raise_with_a_hint(given: dict[str, object]) -> None:
    with pytest.raises(TrainingError) as raised:
        TrainingParams.from_hyperparameters(given)
    assert raised.value.hint


def test_every_field_has_help() -> None:
    helps = describe_fields()
    expected = {"n_epochs", "batch_size", "learning_rate_multiplier", "lora_r", "lora_alpha",
                "lora_dropout", "load_in_4bit", "max_seq_length", "seed"}  # fmt: skip
    assert expected <= set(helps) and all(helps.values())


def test_dpo_only_keys() -> None:
    params = TrainingParams.from_hyperparameters(
        {"beta": "auto", "sft_weight": 0, "n_epochs": 2}, method="dpo"
    )
    assert params.beta == 0.1 and params.sft_weight == 0 and params.n_epochs == 2
    assert TrainingParams.from_hyperparameters(None, method="dpo").sft_weight == 1.0
    with pytest.raises(TrainingError) as raised:  # supervised jobs have no beta
        TrainingParams.from_hyperparameters({"beta": 0.1})
    assert "dpo" in (raised.value.hint or "")
    for bad in ({"beta": 0}, {"beta": 11}, {"sft_weight": -0.5}, {"beta": "0.1"}):
        with pytest.raises(TrainingError):
            TrainingParams.from_hyperparameters(bad, method="dpo")
    with pytest.raises(TrainingError):
        TrainingParams.from_hyperparameters(None, method="reinforcement")
    assert {"beta", "sft_weight"} <= set(describe_fields())
