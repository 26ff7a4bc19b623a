"""Strict /finetune argument parsing."""

from __future__ import annotations

import pytest

from bot.listeners.commands.parsing import UsageError, parse_flags, split_args
from bot.listeners.commands.start import FLAGS


def test_positional_then_flags_with_both_spellings() -> None:
    rest, values = parse_flags(
        ["ds-1", "--epochs", "3", "--validation-split=10%", "--4bit", "on"],
        flags=FLAGS,
        positional=1,
        usage="u",
    )
    assert rest == ["ds-1"]
    assert values == {"epochs": 3, "validation-split": 0.1, "4bit": True}


@pytest.mark.parametrize(
    "args",
    [
        ["ds-1", "--epochs"],
        ["ds-1", "--epochs", "--suffix", "x"],
        ["ds-1", "--epochs", "0"],
        ["ds-1", "--epochs", "-2"],
        ["ds-1", "--4bit", "maybe"],
        ["ds-1", "--validation-split", "lots"],
        ["ds-1", "ds-2"],
        [],
    ],
)
def test_malformed_arguments_raise_usage_errors(args: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_flags(args, flags=FLAGS, positional=1, usage="u")


def test_split_args_accepts_slack_smart_quotes() -> None:
    assert split_args("start ds-1 --suffix “my model”") == ["start", "ds-1", "--suffix", "my model"]
