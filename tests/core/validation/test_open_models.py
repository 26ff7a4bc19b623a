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


def tokenizer_folder(folder: Path, template: str = TEMPLATE) -> Path:
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.add_special_tokens(["<|user|>", "<|assistant|>", "<|end|>"])
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
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


def test_a_model_folder_is_counted_with_its_own_tokenizer_and_template(tmp_path: Path) -> None:
    """``tunebot validate --model FOLDER``: the folder is the model the worker trains."""
    rows = [{"messages": m["messages"][1:]} for m in good_rows(50)]
    folder = tokenizer_folder(tmp_path / "tok")
    report = run(write_jsonl(tmp_path / "data.jsonl", rows), model=str(folder))
    assert report.encoding == "hf:tok" and not report.tokens.estimated
    assert (report.tokens.min, report.tokens.max) == (12, 12)
    # The template has no generation prompt: "<|assistant|> Answer number 0 . <|end|>" is trained.
    assert report.billed_tokens_per_epoch == 12 * 50


def test_tools_the_template_cannot_render_are_an_error_on_their_line(tmp_path: Path) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    tool_use = {
        "messages": [
            {"role": "user", "content": "Question ?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "Answer"},
            {"role": "assistant", "content": "Answer ."},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    }
    legacy = {  # a warning (deprecated_functions) must not hide the error
        "messages": [
            {"role": "user", "content": "Question ?"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "f", "arguments": "{}"},
            },
            {"role": "function", "name": "f", "content": "Answer"},
            {"role": "assistant", "content": "Answer ."},
        ],
        "functions": [{"name": "f", "parameters": {}}],
    }
    rows = [{"messages": m["messages"][1:]} for m in good_rows(11)] + [tool_use, legacy]
    report = run(
        write_jsonl(tmp_path / "d.jsonl", rows), model=str(tokenizer_folder(tmp_path / "t"))
    )
    found = [f for f in report.errors if f.code == "template_cannot_render_tools"]
    assert [f.line for f in found] == [12, 13]
    assert "cannot render tools" in found[0].message and "deprecated" in found[1].message
    assert found[0].fix and "Qwen 2.5" in found[0].fix
    assert "deprecated_functions" in {w.code for w in report.warnings}
    assert report.verdict == "not_ready"


def test_an_example_the_template_refuses_is_an_error_with_its_reason(tmp_path: Path) -> None:
    strict = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    )
    rows = [{"messages": m["messages"][1:]} for m in good_rows(11)] + good_rows(1)
    folder = tokenizer_folder(tmp_path / "strict", template=strict)
    report = run(write_jsonl(tmp_path / "d.jsonl", rows), model=str(folder))
    [finding] = [f for f in report.errors if f.code == "chat_template_error"]
    assert finding.line == 12 and "System role not supported" in finding.message


def test_preferences_count_each_answer_when_the_template_wants_alternating_roles(
    tmp_path: Path,
) -> None:
    alternating = (
        "{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('roles must alternate') }}{% endif %}"
        "<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    )
    rows = [
        {
            "input": {"messages": [{"role": "user", "content": f"Question number {i} ?"}]},
            "preferred_output": [{"role": "assistant", "content": "Answer ."}],
            "non_preferred_output": [{"role": "assistant", "content": "Answer number ."}],
        }
        for i in range(12)
    ]
    folder = tokenizer_folder(tmp_path / "alt", template=alternating)
    report = run(write_jsonl(tmp_path / "prefs.jsonl", rows), model=str(folder))
    assert not [f for f in report.errors if f.code == "chat_template_error"]
    # prompt (6) + "<|assistant|> Answer . <|end|>" (4), and again with "Answer number ." (5)
    assert (report.tokens.min, report.tokens.max) == (21, 21)
