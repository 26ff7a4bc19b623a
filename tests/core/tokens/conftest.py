"""Shared for the core.tokens tests: the two OpenAI encodings and the bundled data."""

from pathlib import Path

import pytest
import tiktoken

from core.tokens import (
    get_encoding,
)
from core.tokens.encodings import _bundled_data_dir

# The OpenAI cookbook's toy file (openai-cookbook, examples/data), copied so CI needs no checkout.
TOY_FILE = Path(__file__).parents[1] / "fixtures" / "toy_chat_fine_tuning.jsonl"
BUNDLED = _bundled_data_dir()


@pytest.fixture(scope="module")
def cl100k() -> tiktoken.Encoding:
    return get_encoding("cl100k_base")


@pytest.fixture(scope="module")
def o200k() -> tiktoken.Encoding:
    return get_encoding("o200k_base")
