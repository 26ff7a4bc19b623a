"""Open models on the worker: counted with the model's own local tokenizer when given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from core.config import Settings
from core.errors import ConfigError
from tests.core.validation.helpers import good_rows, run, write_jsonl

WORDS = ["[UNK]", "Question", "Answer", "number", "?", ".", "<|user|>", "<|assistant|>", "<|end|>"]
TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"


def tokenizer_folder(folder: Path) -> Path:
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.add_special_tokens(["<|user|>", "<|assistant|>", "<|end|>"])
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": TEMPLATE}))
    return folder


def test_open_model_uses_the_local_tokenizer(tmp_path: Path) -> None:
    rows = [{"messages": m["messages"][1:]} for m in good_rows(50)]  # user + assistant only
    path = write_jsonl(tmp_path / "data.jsonl", rows)
    settings = Settings(TUNEBOT_HF_TOKENIZER=tokenizer_folder(tmp_path / "tok"))
    report = run(path, model="meta-llama/Llama-3.1-8B-Instruct", settings=settings)
    assert report.encoding == "hf:tok"
    assert any("local tokenizer" in note for note in report.notes)
    # "<|user|> Question number 0 ? <|end|>" and "<|assistant|> Answer number 0 . <|end|>":
    # 6 tokens each (the digit is [UNK]).
    assert (report.tokens.min, report.tokens.max) == (12, 12)
    assert report.estimated_cost_usd is None


def test_open_model_without_tokenizer_is_a_tiktoken_estimate(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", good_rows(50))
    report = run(path, model="meta-llama/Llama-3.1-8B-Instruct")
    assert report.encoding == "o200k_base"
    assert any("estimate" in note for note in report.notes)


def test_unreadable_tokenizer_fails_before_reading(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", good_rows(50))
    settings = Settings(TUNEBOT_HF_TOKENIZER=tmp_path)
    with pytest.raises(ConfigError):
        run(path, model="meta-llama/Llama-3.1-8B-Instruct", settings=settings, workers=2)
