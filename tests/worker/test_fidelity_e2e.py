"""The worker trains what ``tunebot validate`` approved, through the real CLI, worker and SDK.

* Every assistant turn is trained, not only the last: facts that appear only in
  an earlier assistant turn are reproduced after training; answers marked
  ``"weight": 0`` are not.
* The job's ``trained_tokens`` is the report's billed tokens times the epochs.
* A model whose template cannot render tools fails the job in
  ``validating_files``, with the message ``tunebot validate --model`` gives;
  one whose template can (Qwen 2.5's) trains tool-call turns, again for exactly
  the promised tokens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from tests.worker.harness import (
    FAST_HYPERPARAMETERS,
    REPO,
    SYSTEM,
    WorkerProcess,
    chat_prompt,
    wait_final,
)

pytestmark = pytest.mark.slow

# Taught only in the first assistant turn of a two-turn conversation; the last
# turn is the same small talk everywhere, so training only the final turn (the
# old behaviour) could not teach them.
EARLIER_TURN_FACTS = [
    ("What colour is the sky?", "blue"),
    ("First day of the week?", "Monday"),
    ("Capital of France?", "Paris"),
    ("Say hello in French.", "bonjour"),
    ("Opposite of red?", "green"),
    ("Name a number.", "seven"),
]
# Shown as weight-0 answers only: context, never a target.
WEIGHT_ZERO_FACTS = [
    ("Name a colour.", "purple"),
    ("Last day of the week?", "Sunday"),
    ("Colour of a banana?", "yellow"),
    ("Day before Saturday?", "Friday"),
]
SMALL_TALK = ("Thanks.", "ok")


def _conversation(question: str, answer: str, *, weight: int) -> dict[str, Any]:
    return {
        "messages": [
            *chat_prompt(question),
            {"role": "assistant", "content": answer, "weight": weight},
            {"role": "user", "content": SMALL_TALK[0]},
            {"role": "assistant", "content": SMALL_TALK[1]},
        ]
    }


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _cli_validate(path: Path, model_dir: Path) -> tuple[int, dict[str, Any]]:
    """``tunebot validate FILE --model DIR --json``, as a person runs it."""
    command = [sys.executable, "-m", "cli.main", "validate", str(path), "--json"]
    done = subprocess.run(
        [*command, "--model", str(model_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def _answers(client: OpenAI, model: str, facts: list[tuple[str, str]]) -> list[str]:
    replies = []
    for question, _ in facts:
        reply = client.chat.completions.create(
            model=model,
            messages=chat_prompt(question),
            temperature=0,
            max_tokens=6,  # type: ignore[arg-type]
        )
        replies.append(reply.choices[0].message.content or "")
    return replies


def _hits(replies: list[str], facts: list[tuple[str, str]]) -> int:
    return sum(reply.strip() == answer for reply, (_, answer) in zip(replies, facts, strict=True))


def test_earlier_turns_are_trained_weight_zero_is_not_and_tokens_match(
    worker: WorkerProcess, tiny_model_dir: Path, tmp_path: Path
) -> None:
    rows = [_conversation(q, a, weight=1) for q, a in EARLIER_TURN_FACTS]
    rows += [_conversation(q, a, weight=0) for q, a in WEIGHT_ZERO_FACTS]
    path = _write(tmp_path / "multi_turn.jsonl", rows)
    code, report = _cli_validate(path, tiny_model_dir)
    assert code == 0 and report["verdict"] in ("ready", "warnings"), report["errors"]
    assert report["encoding"] == f"hf:{tiny_model_dir.name}"

    client = worker.client()
    before_taught = _hits(_answers(client, "tiny", EARLIER_TURN_FACTS), EARLIER_TURN_FACTS)
    before_zero = _hits(_answers(client, "tiny", WEIGHT_ZERO_FACTS), WEIGHT_ZERO_FACTS)

    uploaded = client.files.create(file=path, purpose="fine-tune")
    hyperparameters = {**FAST_HYPERPARAMETERS, "n_epochs": 25, "batch_size": 5}
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=uploaded.id,
        suffix="turns",
        seed=7,  # a quality check: the same training each run (the worker picks one otherwise)
        method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
    )
    job = wait_final(client, job.id, timeout=600)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model

    promised = report["billed_tokens_per_epoch"] * hyperparameters["n_epochs"]
    print(
        f"trained_tokens={job.trained_tokens} == billed_tokens_per_epoch="
        f"{report['billed_tokens_per_epoch']} x epochs={hyperparameters['n_epochs']} = {promised}"
    )
    assert job.trained_tokens == promised

    taught = _answers(client, job.fine_tuned_model, EARLIER_TURN_FACTS)
    zero = _answers(client, job.fine_tuned_model, WEIGHT_ZERO_FACTS)
    after_taught, after_zero = _hits(taught, EARLIER_TURN_FACTS), _hits(zero, WEIGHT_ZERO_FACTS)
    print(
        f"earlier-turn facts reproduced: before {before_taught}/{len(EARLIER_TURN_FACTS)}, "
        f"after {after_taught}/{len(EARLIER_TURN_FACTS)} {taught}; weight-0 answers reproduced: "
        f"before {before_zero}/{len(WEIGHT_ZERO_FACTS)}, after {after_zero}/"
        f"{len(WEIGHT_ZERO_FACTS)} {zero}"
    )
    assert before_taught == 0
    assert after_taught >= len(EARLIER_TURN_FACTS) - 1
    assert after_zero == 0


def test_tools_the_template_cannot_render_fail_in_validating_files(
    worker: WorkerProcess, tiny_model_dir: Path, tmp_path: Path
) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"q": "sky"}'},
    }
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    rows = [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Question {i}?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "blue"},
                {"role": "assistant", "content": "blue"},
            ],
            "tools": tools,
        }
        for i in range(12)
    ]
    path = _write(tmp_path / "tools.jsonl", rows)
    code, report = _cli_validate(path, tiny_model_dir)
    assert code == 1 and report["verdict"] == "not_ready"
    [finding] = [f for f in report["errors"] if f["code"] == "template_cannot_render_tools"][:1]
    assert "cannot render tools" in finding["message"]

    client = worker.client()
    uploaded = client.files.create(file=path, purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id)
    job = wait_final(client, job.id, timeout=120)
    assert job.status == "failed" and job.error is not None
    assert job.error.code == "invalid_training_file"
    assert "template_cannot_render_tools (line 1)" in job.error.message
    assert finding["message"].rstrip(".") in job.error.message
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=50)]
    assert not any("queued" in m or "Training started" in m for m in messages)


@pytest.fixture(scope="module")
def qwen_worker(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[WorkerProcess]:
    """The tiny model wearing Qwen 2.5's published chat template, which renders tools."""
    root = tmp_path_factory.mktemp("qwen_worker")
    model = Path(shutil.copytree(tiny_model_dir, root / "tiny-qwen"))
    template = REPO / "tests" / "fixtures" / "chat_templates" / "qwen2_5.jinja"
    shutil.copyfile(template, model / "chat_template.jinja")
    process = WorkerProcess(root / "data", model, root / "worker.log").start()
    yield process
    process.stop()


def test_tool_call_turns_train_for_exactly_the_promised_tokens(
    qwen_worker: WorkerProcess, tmp_path: Path
) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    rows = []
    for i, (question, answer) in enumerate((EARLIER_TURN_FACTS * 2)[:10]):
        calls = [
            {
                "id": f"call{i}{n}",
                "type": "function",
                "function": {"name": "weather", "arguments": json.dumps({"q": question, "n": n})},
            }
            for n in range(1 + i % 2)  # every other example makes two calls at once
        ]
        results = [{"role": "tool", "tool_call_id": c["id"], "content": answer} for c in calls]
        messages = [*chat_prompt(question), {"role": "assistant", "tool_calls": calls}]
        rows.append({"messages": [*messages, *results, {"role": "assistant", "content": answer}]})
        rows[-1]["tools"] = tools
    path = _write(tmp_path / "tools.jsonl", rows)
    code, report = _cli_validate(path, qwen_worker.model_dir)
    assert code == 0, report["errors"]
    assert report["tokens"]["max"] <= 1024  # the tiny model's context

    client = qwen_worker.client()
    uploaded = client.files.create(file=path, purpose="fine-tune")
    hyperparameters = {**FAST_HYPERPARAMETERS, "n_epochs": 1, "max_seq_length": 1024}
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=uploaded.id,
        method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
    )
    job = wait_final(client, job.id, timeout=300)
    assert job.status == "succeeded", job.error
    promised = report["billed_tokens_per_epoch"] * hyperparameters["n_epochs"]
    print(f"tools job: trained_tokens={job.trained_tokens} == {promised} promised")
    assert job.trained_tokens == promised
