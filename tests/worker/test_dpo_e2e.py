"""Preference training, continuing a fine-tuned model, checkpoints and export,
through the real worker process and the real ``openai`` SDK.

The story: the tiny model is supervised to give a wrong answer to 12 prompts;
the team's A/B export (``core.evaluation.export.to_preference_jsonl``, what
``/finetune ab results`` attaches) prefers the right answers; a DPO job that
continues the wrong model moves its greedy answers to the preferred ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from core.evaluation.export import PromptRow, to_preference_jsonl
from tests.worker.harness import REPO, WorkerProcess, chat_prompt, wait_final

pytestmark = pytest.mark.slow

# (prompt, preferred, rejected): the model is first taught the rejected answers.
PAIRS = [
    ("What colour is the sky?", "blue", "green"),
    ("First day of the week?", "Monday", "Friday"),
    ("Capital of France?", "Paris", "London"),
    ("Say hello in French.", "bonjour", "hello"),
    ("Two plus two?", "four", "five"),
    ("Opposite of red?", "green", "purple"),
    ("Last day of the week?", "Sunday", "Tuesday"),
    ("Name a fruit.", "orange", "red"),
    ("Name a number.", "seven", "ten"),
    ("Name a pet.", "cat", "fox"),
    ("Colour of grass?", "green", "yellow"),
    ("Day after Monday?", "Tuesday", "Thursday"),
]
SCHEDULE: dict[str, Any] = {
    "n_epochs": 20,
    "batch_size": 4,
    "learning_rate_multiplier": 25,
    "max_seq_length": 64,
}
SEED = 3  # the figures printed below reproduce (without it the worker picks a seed)
LORA: dict[str, Any] = {"lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0}


def _vote_export(path: Path) -> Path:
    """The preference file exactly as the A/B export writes it. The right answer won
    every prompt: as the candidate on even prompts, as the opponent on odd ones; a
    tied prompt is left out of the export."""
    rows = [_row(number, prompt, good, bad) for number, (prompt, good, bad) in enumerate(PAIRS)]
    rows.append(_row(len(PAIRS), "A tied prompt?", "yes", "no", outcome="tie"))
    text = to_preference_jsonl(rows)
    assert len(text.splitlines()) == len(PAIRS)
    path.write_text(text, encoding="utf-8")
    return path


def _row(number: int, prompt: str, good: str, bad: str, *, outcome: str = "") -> PromptRow:
    won = outcome or ("candidate" if number % 2 == 0 else "opponent")
    candidate, opponent = (good, bad) if won == "candidate" else (bad, good)
    return PromptRow(
        number=number, prompt=prompt, author="U1", opponent="baseline",
        candidate_model="ft:tiny::x", opponent_model="tiny", candidate_position="A",
        status="answered", votes_a=2, votes_b=0, ties=0, both_bad=0, candidate_votes=2,
        opponent_votes=0, outcome=won, candidate_text=candidate, opponent_text=opponent,
    )  # fmt: skip


def _answers(client: OpenAI, model: str) -> list[str]:
    replies = []
    for prompt, _, _ in PAIRS:
        reply = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": prompt}],
            temperature=0,
            max_tokens=8,  # type: ignore[arg-type]
        )
        replies.append(reply.choices[0].message.content or "")
    return replies


def _counts(answers: list[str]) -> tuple[int, int]:
    """(preferred, rejected) answers given, out of len(PAIRS)."""
    preferred = sum(a == good for a, (_, good, _) in zip(answers, PAIRS, strict=True))
    rejected = sum(a == bad for a, (_, _, bad) in zip(answers, PAIRS, strict=True))
    return preferred, rejected


def _taught(answers: list[str]) -> int:
    """Answers that are the rejected answer or a non-empty start of it."""
    pairs = zip(answers, PAIRS, strict=True)
    return sum(bool(a) and bad.startswith(a) for a, (_, _, bad) in pairs)


def _upload(client: OpenAI, path: Path) -> str:
    return client.files.create(file=path, purpose="fine-tune").id


@pytest.fixture(scope="module")
def wrong_model(worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An ``ft:`` model supervised to give the rejected answers."""
    client = worker.client()
    path = tmp_path_factory.mktemp("sft") / "wrong.jsonl"
    lines = [
        {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": bad}]}
        for p, _, bad in PAIRS
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    method = {"type": "supervised", "supervised": {"hyperparameters": {**SCHEDULE, **LORA}}}
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=_upload(client, path),
        suffix="wrong",
        seed=SEED,
        method=method,  # type: ignore[arg-type]
    )
    job = wait_final(client, job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model is not None
    return job.fine_tuned_model


@pytest.fixture(scope="module")
def dpo_job(
    worker: WorkerProcess, wrong_model: str, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """DPO (with the default supervised term) continuing ``wrong_model`` on the vote export."""
    client = worker.client()
    pairs = _upload(client, _vote_export(tmp_path_factory.mktemp("dpo") / "votes.jsonl"))
    method = {"type": "dpo", "dpo": {"hyperparameters": {**SCHEDULE, "beta": 0.1}}}
    job = client.fine_tuning.jobs.create(
        model=wrong_model, training_file=pairs, validation_file=pairs, suffix="votes",
        seed=SEED, method=method,  # type: ignore[arg-type]
    )  # fmt: skip
    job = wait_final(client, job.id)
    assert job.status == "succeeded", job.error
    return job


def test_dpo_moves_greedy_answers_to_the_preferred_ones(
    worker: WorkerProcess, wrong_model: str, dpo_job: Any, tmp_path: Path
) -> None:
    client = worker.client()
    before = _counts(_answers(client, wrong_model))
    after = _counts(_answers(client, dpo_job.fine_tuned_model))

    plain_method = {"type": "dpo", "dpo": {"hyperparameters": {**SCHEDULE, "sft_weight": 0}}}
    plain = client.fine_tuning.jobs.create(
        model=wrong_model,
        training_file=dpo_job.training_file,
        seed=SEED,
        method=plain_method,  # type: ignore[arg-type]
    )
    plain = wait_final(client, plain.id)
    assert plain.status == "succeeded", plain.error
    plain_after = _counts(_answers(client, plain.fine_tuned_model))
    n = len(PAIRS)
    print(
        f"\nDPO move on the tiny model ({n} prompts, 20 epochs, beta 0.1): "
        f"supervised model: preferred {before[0]} of {n}, rejected {before[1]} of {n}; "
        f"after DPO + supervised term (sft_weight 1): preferred {after[0]} of {n}, "
        f"rejected {after[1]} of {n}; after plain DPO (sft_weight 0): "
        f"preferred {plain_after[0]} of {n}, rejected {plain_after[1]} of {n}"
    )
    assert before[1] >= n - 1 and before[0] == 0, before
    assert after[0] >= n - 2 and after[1] == 0, after
    assert plain_after[1] <= 1, plain_after  # plain DPO still pushes the rejected answers down

    # Named after the base, as OpenAI names a model continued from a fine-tune.
    assert dpo_job.model == wrong_model
    assert dpo_job.fine_tuned_model == f"ft:tiny:votes:{dpo_job.id.removeprefix('ftjob-')}"
    assert dpo_job.method.type == "dpo"
    shown = dpo_job.method.dpo.hyperparameters
    assert shown.beta == 0.1 and shown.n_epochs == 20
    assert dpo_job.hyperparameters.lora_r == 8  # inherited from the adapter it continues

    events = list(client.fine_tuning.jobs.list_events(dpo_job.id, limit=100))
    train = [e.data for e in events if e.type == "metrics" and "train_loss" in e.data]
    assert train and all({"train_reward_margin", "train_reward_accuracy"} <= set(d) for d in train)
    first, last = min(train, key=lambda d: d["step"]), max(train, key=lambda d: d["step"])
    # The reference is the model the job started from (the continued adapter, not the
    # base): at step 1 policy and reference agree, so every implicit reward is 0.
    assert abs(first["train_reward_margin"]) < 1e-6, first
    assert last["train_reward_margin"] > 1 and last["train_reward_accuracy"] == 1.0, last
    valid = [e.data for e in events if e.type == "metrics" and "valid_loss" in e.data]
    assert valid and all("valid_reward_margin" in d for d in valid)


def test_each_checkpoint_is_served_and_listed(worker: WorkerProcess, dpo_job: Any) -> None:
    client = worker.client()
    checkpoints = client.fine_tuning.jobs.checkpoints.list(dpo_job.id, limit=100).data
    steps = sorted(c.step_number for c in checkpoints)
    assert steps == list(range(3, 61, 3)), steps  # one per epoch: 12 pairs, batch 4
    assert all(c.metrics.valid_loss is not None for c in checkpoints)
    names = {c.step_number: c.fine_tuned_model_checkpoint for c in checkpoints}
    assert names[60] == f"{dpo_job.fine_tuned_model}:ckpt-step-60"
    listed = {m.id for m in client.models.list().data}
    assert set(names.values()) <= listed

    assert _answers(client, names[60]) == _answers(client, dpo_job.fine_tuned_model)
    first = client.chat.completions.create(
        model=names[3],
        messages=chat_prompt(PAIRS[0][0]),
        temperature=0,
        max_tokens=4,  # type: ignore[arg-type]
    )
    assert first.model == names[3] and first.usage is not None
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model=f"{dpo_job.fine_tuned_model}:ckpt-step-7",
            messages=[{"role": "user", "content": "hi"}],
        )


def test_export_adapter_and_merged_model_answer_like_the_worker(
    worker: WorkerProcess, dpo_job: Any, tmp_path: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    served = _answers(worker.client(), dpo_job.fine_tuned_model)
    merged_dir, adapter_dir = tmp_path / "merged", tmp_path / "adapter"
    for out, extra in ((merged_dir, ["--merge"]), (adapter_dir, [])):
        done = _export(worker, dpo_job.fine_tuned_model, out, *extra)
        assert done.returncode == 0, done.stderr
    files = {p.name for p in merged_dir.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= files
    assert not any(p.is_dir() for p in adapter_dir.iterdir())  # no TRL "ref" copy
    assert {"adapter_model.safetensors", "adapter_config.json"} <= {
        p.name for p in adapter_dir.iterdir()
    }

    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    base = AutoModelForCausalLM.from_pretrained(worker.model_dir)
    adapter = PeftModel.from_pretrained(base, adapter_dir)
    for model in (merged, adapter):
        answers = [_generate(model, tokenizer, prompt) for prompt, _, _ in PAIRS]
        assert answers == served, (answers, served)
    print(f"\nexport: merged model and adapter on base both gave the worker's {len(served)} "
          f"greedy answers: {served}")  # fmt: skip

    refused = _export(worker, "ft:tiny:nope:123", tmp_path / "x")
    assert refused.returncode == 2 and "No fine-tuned model" in refused.stderr
    refused = _export(worker, dpo_job.fine_tuned_model, merged_dir)
    assert refused.returncode == 2 and "not empty" in refused.stderr


def test_supervised_job_continues_a_fine_tuned_model(
    worker: WorkerProcess, wrong_model: str, tmp_path: Path
) -> None:
    client = worker.client()
    original = client.fine_tuning.jobs.retrieve("ftjob-" + wrong_model.split(":")[-1])
    method = {"type": "supervised", "supervised": {"hyperparameters": {**SCHEDULE, "n_epochs": 1}}}
    job = client.fine_tuning.jobs.create(
        model=wrong_model,
        training_file=original.training_file,
        seed=SEED,
        method=method,  # type: ignore[arg-type]
    )
    job = wait_final(client, job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model and job.fine_tuned_model.startswith("ft:tiny::")

    def first_loss(job_id: str) -> float:
        events = client.fine_tuning.jobs.list_events(job_id, limit=100).data
        return min((e for e in events if e.type == "metrics" and "train_loss" in e.data),
                   key=lambda e: e.data["step"]).data["train_loss"]  # fmt: skip

    # Starting from the trained adapter, not a fresh one: the first step already fits.
    assert first_loss(job.id) < first_loss(original.id) / 5
    # One more epoch at this learning rate can end an answer a token early ("fi" for
    # "five": three of eight seeds here; CI's unseeded run had 10 of 12 exact). The base
    # model, which a job that lost the adapter would start from, begins none of them.
    assert _taught(_answers(client, "tiny")) == 0
    answers = _answers(client, job.fine_tuned_model)
    assert _taught(answers) == len(PAIRS) and _counts(answers)[1] >= len(PAIRS) - 2, answers

    with pytest.raises(openai.BadRequestError) as raised:
        client.fine_tuning.jobs.create(
            model=wrong_model,
            training_file=original.training_file,
            method={"type": "supervised", "supervised": {"hyperparameters": {"lora_r": 4}}},
        )
    assert (
        "lora_r" in raised.value.message
        and raised.value.param == "method.supervised.hyperparameters"
    )
    with pytest.raises(openai.BadRequestError) as raised:
        client.fine_tuning.jobs.create(
            model=wrong_model + ":ckpt-step-3", training_file=original.training_file
        )
    assert raised.value.param == "model"


def _export(
    worker: WorkerProcess, model: str, out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli.main", "worker", "export", model, str(out),
               "--data-dir", str(worker.data_dir), *extra]  # fmt: skip
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def _generate(model: Any, tokenizer: Any, prompt: str) -> str:
    import torch

    messages = [{"role": "user", "content": prompt}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(text, add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(**inputs, do_sample=False, max_new_tokens=8,
                                pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    new = output[0, inputs["input_ids"].shape[1] :]
    return str(tokenizer.decode(new, skip_special_tokens=True))
