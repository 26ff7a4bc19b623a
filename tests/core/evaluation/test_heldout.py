from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import EvaluationError
from core.evaluation.arms import Arm, Generation
from core.evaluation.examples import few_shot_prompt, read_examples, shared_system_prompt
from core.evaluation.heldout import run_heldout
from tests.core.evaluation.conftest import ScriptedProvider

CAPITALS = {
    "France": "Paris",
    "Italy": "Rome",
    "Spain": "Madrid",
    "Peru": "Lima",
    "Chile": "Santiago",
    "Japan": "Tokyo",
    "Kenya": "Nairobi",
    "Egypt": "Cairo",
}


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _capitals_file(tmp_path: Path) -> Path:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Answer with the city."},
                {"role": "user", "content": f"Capital of {country}?"},
                {"role": "assistant", "content": f"The capital is {city}."},
            ]
        }
        for country, city in CAPITALS.items()
    ]
    rows.append({"messages": [{"role": "user", "content": "no answer"}]})  # skipped
    return _write(tmp_path / "valid.jsonl", rows)


def _country(messages: list[dict[str, Any]]) -> str:
    return messages[-1]["content"].removeprefix("Capital of ").rstrip("?")


def _knows_all(messages: list[dict[str, Any]]) -> str:
    return f"The capital is {CAPITALS[_country(messages)]}."


def _knows_half(messages: list[dict[str, Any]]) -> str:
    country = _country(messages)
    return _knows_all(messages) if country in ("France", "Italy", "Spain", "Peru") else "No idea."


def _run(provider: ScriptedProvider, path: Path, **kwargs: Any):  # type: ignore[no-untyped-def]
    return run_heldout(
        read_examples(path, limit=kwargs.pop("limit", None)),
        candidate=Arm("candidate", "worker", "ft"),
        baseline=Arm("baseline", "worker", "base"),
        providers={"worker": provider},
        generation=Generation(temperature=0.0, max_tokens=32),
        **kwargs,
    )


def test_reference_scores_latency_tokens_and_worst_losses(
    tmp_path: Path, scripted: ScriptedProvider
) -> None:
    scripted.set("ft", _knows_half)
    scripted.set("base", _knows_all)
    result = _run(scripted, _capitals_file(tmp_path))
    assert len(result.items) == 8 and not result.classification
    assert result.candidate.exact_match == 0.5 and result.baseline.exact_match == 1.0
    assert result.candidate.mean_f1 is not None and result.candidate.mean_f1 < 1.0
    assert result.baseline.mean_f1 == 1.0
    assert result.reference.tally.losses == 4 and result.reference.tally.ties == 4
    assert result.candidate.completion_tokens > 0 and result.candidate.mean_latency_s is not None
    worst = [item.example.last_user_text for item in result.worst]
    assert len(worst) == 4 and "Capital of France?" not in worst
    assert result.judge is None


def test_judge_preferring_slot_a_is_exposed_and_swap_cancels_it(
    tmp_path: Path, scripted: ScriptedProvider
) -> None:
    scripted.set("ft", _knows_all)
    scripted.set("base", _knows_half)
    scripted.set("judge", lambda messages: "Both fine. Verdict: A")
    result = _run(scripted, _capitals_file(tmp_path), judge=Arm("judge", "worker", "judge"))
    assert result.judge is not None
    assert result.judge.position_a_rate == 1.0
    assert result.judge.position_p_value is not None and result.judge.position_p_value < 0.01
    assert result.judge.tally.wins == result.judge.tally.losses == 0
    assert result.judge.tally.ties == 8


def test_fair_judge_decides(tmp_path: Path, scripted: ScriptedProvider) -> None:
    def fair(messages: list[dict[str, Any]]) -> str:
        text = messages[1]["content"]
        a = text.split("[Response A]\n")[1].split("\n\n[Response B]")[0]
        return "Verdict: B" if a == "No idea." else "Verdict: A" if "No idea." in text else "tie"

    scripted.set("ft", _knows_all)
    scripted.set("base", _knows_half)
    scripted.set("judge", fair)
    result = _run(scripted, _capitals_file(tmp_path), judge=Arm("judge", "worker", "judge"))
    assert result.judge is not None
    assert (result.judge.tally.wins, result.judge.tally.losses, result.judge.tally.ties) == (
        4,
        0,
        4,
    )
    assert result.judge.position_a_rate == 0.5


def test_bounded_concurrency_and_sampling(tmp_path: Path, scripted: ScriptedProvider) -> None:
    scripted.set("ft", _knows_all, delay=0.05)
    scripted.set("base", _knows_all, delay=0.05)
    result = _run(scripted, _capitals_file(tmp_path), concurrency=3, limit=6)
    assert len(result.items) == 6
    assert scripted.max_in_flight == 3


def test_one_model_failing_is_counted_as_failed_not_compared(
    tmp_path: Path, scripted: ScriptedProvider
) -> None:
    scripted.set("ft", _knows_all)
    scripted.set("base", _knows_all, fail=True)
    result = _run(scripted, _capitals_file(tmp_path))
    assert result.baseline.failed == 8 and result.baseline.answered == 0
    assert result.candidate.answered == 8
    assert result.reference.tally.total == 0 and result.worst == []


def test_classification_reports_accuracy(tmp_path: Path, scripted: ScriptedProvider) -> None:
    labels = ["positive", "negative", "neutral"] * 4
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"review {i}"},
                {"role": "assistant", "content": label},
            ]
        }
        for i, label in enumerate(labels)
    ]
    truth = {f"review {i}": label for i, label in enumerate(labels)}
    scripted.set("ft", lambda m: truth[m[-1]["content"]].capitalize() + ".")
    scripted.set("base", lambda m: "positive")
    result = _run(scripted, _write(tmp_path / "labels.jsonl", rows))
    assert result.classification
    assert result.candidate.exact_match == 1.0
    assert result.baseline.exact_match == pytest.approx(4 / 12)
    assert result.reference.tally.wins == 8 and result.reference.tally.ties == 4


def test_examples_and_few_shot_prompt(tmp_path: Path) -> None:
    examples = read_examples(_capitals_file(tmp_path))
    assert shared_system_prompt(examples) == "Answer with the city."
    prompt = few_shot_prompt(examples)
    assert prompt.startswith("Answer with the city.")
    assert prompt.count("Example ") == 5 and "Assistant: The capital is Paris." in prompt
    with pytest.raises(EvaluationError, match="missing"):
        read_examples(tmp_path / "nope.jsonl")
    with pytest.raises(EvaluationError, match="no chat example"):
        read_examples(_write(tmp_path / "empty.jsonl", [{"prompt": "x"}]))
