"""Shared for the core.tokens tests: the two OpenAI encodings, the bundled data and
the tiny model's tokenizer (built offline once per session)."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worker.tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
