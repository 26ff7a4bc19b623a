"""Upload -> create -> poll -> events -> succeeded -> chat, through the real SDK.

One worker process serves the module; jobs run one at a time, as in production.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from tests.worker.harness import (
    FAST_HYPERPARAMETERS,
    QA,
    WorkerProcess,
    all_events,
    chat_prompt,
    metric_steps,
    wait_final,
    wait_for,
    write_chat_jsonl,
)

pytestmark = pytest.mark.slow


def _supervised(**overrides: object) -> dict[str, object]:
    hyperparameters = {**FAST_HYPERPARAMETERS, **overrides}
    return {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}


def _exact_matches(client: OpenAI, model: str) -> float:
    hits = 0
    for question, answer in QA:
        reply = client.chat.completions.create(
            model=model,
            messages=chat_prompt(question),
            temperature=0,
            max_tokens=8,  # type: ignore[arg-type]
        )
        hits += reply.choices[0].message.content == answer
        assert reply.usage is not None and reply.usage.completion_tokens >= 1
    return hits / len(QA)


def test_fine_tune_succeeds_and_the_model_learns(worker: WorkerProcess, tmp_path: Path) -> None:
    client = worker.client()
    uploaded = client.files.create(
        file=write_chat_jsonl(tmp_path / "train.jsonl"), purpose="fine-tune"
    )
    assert uploaded.purpose == "fine-tune" and uploaded.bytes > 0
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=uploaded.id,
        validation_file=uploaded.id,
        suffix="qa",
        seed=7,
        method=_supervised(),
    )
    assert job.status == "validating_files" and job.seed == 7

    job = wait_final(client, job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:tiny:qa:{job.id.removeprefix('ftjob-')}"
    assert job.trained_tokens and job.trained_tokens > 0
    assert job.hyperparameters.n_epochs == 20 and job.hyperparameters.batch_size == 5

    events = all_events(client, job.id)
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    assert events[0].message == "The job has successfully completed"
    messages = [e.message for e in events if e.type == "message"]
    assert "Files validated, moving job to queued state" in messages
    valid = [e for e in events if e.type == "metrics" and "valid_loss" in e.data]
    assert sorted(e.data["step"] for e in valid) == [20, 40]
    metrics = [e for e in reversed(events) if e.type == "metrics" and "train_loss" in e.data]
    assert [m.data["step"] for m in metrics] == list(range(1, 41))
    assert set(metrics[0].data) >= {
        "step", "total_steps", "train_loss", "train_mean_token_accuracy",
        "learning_rate", "tokens_per_second",
    }  # fmt: skip
    assert metrics[-1].message == f"Step 40/40: training loss={metrics[-1].data['train_loss']:.2f}"
    first, last = metrics[0].data["train_loss"], metrics[-1].data["train_loss"]
    assert last < first / 3, (first, last)

    # Pages are newest first and continue strictly after the cursor.
    page = client.fine_tuning.jobs.list_events(job.id, limit=3)
    after = client.fine_tuning.jobs.list_events(job.id, limit=3, after=page.data[-1].id)
    assert page.has_more and [e.id for e in page.data + after.data] == [e.id for e in events[:6]]

    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [40, 20]
    assert checkpoints[0].fine_tuned_model_checkpoint.endswith(":ckpt-step-40")

    rows = list(csv.DictReader(io.StringIO(client.files.content(job.result_files[0]).text)))
    assert list(rows[0])[:5] == [
        "step",
        "train_loss",
        "train_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
    ]
    assert [int(r["step"]) for r in rows] == list(range(1, 41))
    assert float(rows[-1]["valid_loss"]) < float(rows[19]["valid_loss"])
    assert checkpoints[0].metrics.valid_loss == float(rows[-1]["valid_loss"])
    with pytest.raises(openai.BadRequestError, match="purpose"):  # results never train
        client.fine_tuning.jobs.create(model="tiny", training_file=job.result_files[0])

    assert job.fine_tuned_model in {m.id for m in client.models.list().data}
    tuned, base = _exact_matches(client, job.fine_tuned_model), _exact_matches(client, "tiny")
    assert tuned >= 0.9 and base <= 0.1, (tuned, base)

    stream = client.chat.completions.create(
        model=job.fine_tuned_model,
        messages=chat_prompt(QA[0][0]),
        temperature=0,
        stream=True,  # type: ignore[arg-type]
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == QA[0][1]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= 1


def test_queue_order_and_cancel_mid_run(worker: WorkerProcess, tmp_path: Path) -> None:
    client = worker.client()
    training = client.files.create(
        file=write_chat_jsonl(tmp_path / "train.jsonl"), purpose="fine-tune"
    )
    long_run = _supervised(n_epochs=50, max_steps=400, checkpoint_steps=0)
    jobs = client.fine_tuning.jobs
    first = jobs.create(model="tiny", training_file=training.id, method=long_run)  # type: ignore[arg-type]
    second = jobs.create(model="tiny", training_file=training.id, method=long_run)  # type: ignore[arg-type]

    wait_for(lambda: len(metric_steps(client, first.id)) >= 3, what="first job training")
    running = client.fine_tuning.jobs.retrieve(first.id)
    assert running.status == "running" and running.estimated_finish is not None
    assert client.fine_tuning.jobs.retrieve(second.id).status == "queued"
    assert client.fine_tuning.jobs.cancel(second.id).status == "cancelled"  # never started

    client.fine_tuning.jobs.cancel(first.id)
    job = wait_final(client, first.id)
    assert job.status == "cancelled" and job.fine_tuned_model is None
    steps = metric_steps(client, first.id)
    checkpoints = client.fine_tuning.jobs.checkpoints.list(first.id).data
    assert checkpoints and checkpoints[0].step_number == max(steps) < 400
    messages = [e.message for e in all_events(client, first.id)]
    assert messages[0] == "Fine-tuning job cancelled"
    assert not any(e.type == "metrics" for e in all_events(client, second.id))
