"""core.tokens.hf: counting with a Hugging Face tokenizer and chat template."""

import json
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from core.errors import ConfigError, DatasetError
from core.tokens import (
    ExampleTokens,
    HFTokenCounter,
)

WORDS = ["[UNK]", "hello", "world", "how", "are", "you", "?", "fine"]
SPECIALS = ["<s>", "<|user|>", "<|assistant|>", "<|end|>"]
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('bad role') }}{% endif %}"
    "<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}"
)


def _tokenizer_folder(folder: Path, *, template: str | None) -> Path:
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.add_special_tokens(SPECIALS)
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))
    config: dict[str, Any] = {"bos_token": {"content": "<s>"}, "eos_token": "<|end|>"}
    if template is not None:
        config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_hf_counter_renders_the_chat_template(tmp_path: Path) -> None:
    counter = HFTokenCounter(_tokenizer_folder(tmp_path / "tok", template=TEMPLATE))
    assert counter.has_chat_template
    assert counter.count_text("hello world how are you ?") == 6
    messages = [
        {"role": "user", "content": "how are you ?"},
        {"role": "assistant", "content": "fine"},
    ]
    # <s> | <|user|> how are you ? <|end|> | <|assistant|> fine <|end|>; the template
    # has no generation prompt, so the model must produce the assistant header too.
    assert counter.count_messages(messages) == ExampleTokens(1 + 6 + 3, trained=3, estimated=False)
    # As TRL trains it: prompt + completion + EOS, the completion and EOS trained.
    assert counter.count_prompt_completion("hello", " world") == ExampleTokens(3, 2, False)
    assert counter.count_document("hello world") == ExampleTokens(3, 3, False)


def test_hf_counter_without_or_rejecting_template_is_an_error(tmp_path: Path) -> None:
    """The worker could not train such an example, so no estimate stands in for it."""
    plain = HFTokenCounter(_tokenizer_folder(tmp_path / "plain", template=None) / "tokenizer.json")
    messages = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "fine"}]
    with pytest.raises(DatasetError, match="no chat template") as missing:
        plain.count_messages(messages)
    assert missing.value.code == "chat_template_error"
    templated = HFTokenCounter(_tokenizer_folder(tmp_path / "tpl", template=TEMPLATE))
    with pytest.raises(DatasetError, match="refuses this example: bad role") as refused:
        templated.count_messages([{"role": "system", "content": "hello"}, *messages])
    assert refused.value.code == "chat_template_error"


def test_hf_counter_needs_a_tokenizer_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tokenizer"):
        HFTokenCounter(tmp_path)
    broken = _tokenizer_folder(tmp_path / "broken", template="{% for %}")
    with pytest.raises(ConfigError, match="does not compile"):
        HFTokenCounter(broken)
