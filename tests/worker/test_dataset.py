"""Rows are shaped so TRL trains the right tokens for each format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import TrainingError
from worker.dataset import check_training_file, load_examples


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_chat_trains_only_the_final_assistant_turn(tmp_path: Path) -> None:
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1", "weight": 0},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]
    [row] = load_examples(_write(tmp_path / "c.jsonl", [{"messages": messages}]))
    assert row["completion"] == [{"role": "assistant", "content": "a2"}]
    assert [m["content"] for m in row["prompt"]] == ["s", "q1", "a1", "q2"]
    assert all(set(m) == {"role", "content"} for m in row["prompt"])


def test_prompt_completion_and_text(tmp_path: Path) -> None:
    rows = load_examples(_write(tmp_path / "p.jsonl", [{"prompt": "2+2=", "completion": "4"}]))
    assert rows == [{"prompt": "2+2=", "completion": "4"}]
    assert load_examples(_write(tmp_path / "t.jsonl", [{"text": "all of it"}])) == [
        {"text": "all of it"}
    ]


def test_mixed_or_untrainable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="mixes formats"):
        load_examples(
            _write(tmp_path / "m.jsonl", [{"text": "a"}, {"prompt": "b", "completion": "c"}])
        )
    with pytest.raises(TrainingError, match="assistant"):
        load_examples(
            _write(tmp_path / "u.jsonl", [{"messages": [{"role": "user", "content": "q"}]}])
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
