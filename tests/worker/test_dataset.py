"""Rows reach TRL pre-tokenized, with loss on exactly the trained tokens of each format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from core.errors import TrainingError
from worker.dataset import check_training_file, load_examples


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_rows_are_pre_tokenized_with_labels_on_trained_tokens_only(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1", "weight": 0},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]
    [row] = load_examples(
        _write(tmp_path / "c.jsonl", [{"messages": messages}]), base_model=str(tiny_model_dir)
    )
    tokenizer = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    trained = [t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
    assert tokenizer.decode(trained, skip_special_tokens=False) == "a2<|end|>"
    assert tokenizer.decode(row["input_ids"], skip_special_tokens=False).startswith(
        "<|begin|><|system|>\ns<|end|>"
    )


def test_prompt_completion_and_text(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = str(tiny_model_dir)
    tokenizer = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))

    def trained(row: dict[str, list[int]]) -> str:
        ids = [t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label >= 0]
        return str(tokenizer.decode(ids, skip_special_tokens=False))

    [pc] = load_examples(
        _write(tmp_path / "p.jsonl", [{"prompt": "2+2=", "completion": "4"}]), base_model=model
    )
    assert trained(pc) == "4<|end|>"
    [text] = load_examples(_write(tmp_path / "t.jsonl", [{"text": "all of it"}]), base_model=model)
    assert trained(text) == "all of it<|end|>" and text["labels"] == text["input_ids"]


def test_mixed_or_untrainable_files_are_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = str(tiny_model_dir)
    with pytest.raises(TrainingError, match="mixes formats"):
        load_examples(
            _write(tmp_path / "m.jsonl", [{"text": "a"}, {"prompt": "b", "completion": "c"}]),
            base_model=model,
        )
    tool_call = {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                 "function": {"name": "f", "arguments": "{}"}}]}  # fmt: skip
    with pytest.raises(TrainingError, match=r"Line 1: .*cannot render tools"):
        load_examples(
            _write(
                tmp_path / "u.jsonl", [{"messages": [{"role": "user", "content": "q"}, tool_call]}]
            ),
            base_model=model,
        )


def test_core_validator_decides_what_is_ready(tmp_path: Path, tiny_model_dir: Path) -> None:
    good = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(12)
    ]
    assert (
        check_training_file(_write(tmp_path / "ok.jsonl", good), base_model=str(tiny_model_dir))
        is None
    )
    problem = check_training_file(
        _write(tmp_path / "few.jsonl", good[:3]), base_model=str(tiny_model_dir)
    )
    assert problem and "too_few_examples" in problem and "tunebot validate --fix" in problem
