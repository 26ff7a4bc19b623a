"""An A/B session's votes train as a DPO job on the real worker, through tunebot's own path.

Two ``ft:`` models of the tiny model are compared in an A/B session whose
answers come from the worker's chat completions; the voters prefer the right
answers. ``core.evaluation.vote_training`` (what "Train on these votes" runs)
takes the decided pairs in, and the same claim and launch as any start create
a DPO job that continues the session's fine-tuned model on the worker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from core.config import Settings
from core.evaluation import export, sessions, votes
from core.evaluation.arms import Arm, Generation
from core.evaluation.vote_training import votes_request
from core.providers import build_providers
from core.store.ab import responses_of
from core.store.datasets import Dataset, add_dataset, get_dataset
from core.store.engine import create_db_engine, init_db, session_scope
from core.store.jobs import TrainingJob
from core.training.start import claim_job, launch_job
from tests.worker.harness import API_KEY, WorkerProcess, wait_final
from tests.worker.test_dpo_e2e import LORA, PAIRS, SCHEDULE, SEED

pytestmark = pytest.mark.slow


def _supervised(client: OpenAI, tmp: Path, name: str, answers: list[str]) -> str:
    lines = [
        {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": a}]}
        for (p, _, _), a in zip(PAIRS, answers, strict=True)
    ]
    path = tmp / f"{name}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    method: Any = {"type": "supervised", "supervised": {"hyperparameters": {**SCHEDULE, **LORA}}}
    with path.open("rb") as handle:
        uploaded = client.files.create(file=handle, purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=uploaded,
        suffix=name,
        seed=SEED,
        method=method,
    )
    job = wait_final(client, job.id)
    assert job.status == "succeeded" and job.fine_tuned_model, job.error
    return str(job.fine_tuned_model)


def test_votes_of_a_session_train_as_a_dpo_job(worker: WorkerProcess, tmp_path: Path) -> None:
    client = worker.client()
    wrong = _supervised(client, tmp_path, "wrong", [bad for _, _, bad in PAIRS])
    right = _supervised(client, tmp_path, "right", [good for _, good, _ in PAIRS])

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATABASE_URL=f"sqlite:///{tmp_path / 'tunebot.db'}",
        TUNEBOT_DATA_DIR=tmp_path / "data",
        TUNEBOT_WORKER_URL=worker.base_url,
        TUNEBOT_WORKER_API_KEY=API_KEY,
        TUNEBOT_DPO_MIN_PAIRS=10,
        OPENAI_API_KEY=None,
        TUNEBOT_MONTHLY_BUDGET_USD=None,
    )
    engine = create_db_engine(settings.database_url)
    init_db(engine)
    providers = build_providers(settings)
    source = add_dataset(engine, Dataset(
        short_id="ds-wrong1", slack_file_id="F1", channel_id="C1", thread_ts="1.0",
        uploader_id="U1", file_name="wrong.jsonl", sha256="0" * 64, verdict="ready",
        format="chat", model="tiny", report_json="{}",
    ))  # fmt: skip
    with session_scope(engine) as db:
        job = TrainingJob(
            short_id="job-wrong1", request_id="req-1", dataset_id=source.id, provider="worker",
            base_model="tiny", fine_tuned_model=wrong, status="succeeded", channel_id="C1",
            thread_ts="1.0", started_by="U1",
        )  # fmt: skip
        db.add(job)
        db.flush()
        job_id = job.id
    session, _ = sessions.create_session(
        engine,
        request_id="button:job-wrong1",
        channel_id="C1",
        created_by="U1",
        candidate=Arm("candidate", "worker", wrong),
        baseline=Arm("baseline", "worker", right),
        generation=Generation(temperature=0.0, max_tokens=8, seed=SEED),
        job_id=job_id,
    )
    sessions.attach_thread(engine, session.id or 0, "2.0")
    session.thread_ts = "2.0"
    # Each prompt answered by both models through the worker, then voted for the right one.
    for number, (prompt, _, _) in enumerate(PAIRS):
        row = sessions.record_prompt(
            engine, session, slack_ts=f"3.{number}", author_id="U2", text=prompt
        )
        assert row is not None and row.id is not None
        sessions.generate(engine, session, row, providers=providers)
        (won,) = [r for r in responses_of(engine, prompt_ids=[row.id]) if r.model == right]
        votes.cast_vote(engine, prompt_id=row.id, user_id="U3", choice=won.position.lower())

    request = votes_request(engine, session, settings=settings, user_id="U1")
    claimed = claim_job(engine, request, settings=settings, providers=providers)
    started = launch_job(engine, claimed, settings=settings, providers=providers)
    done = wait_final(client, started.provider_job_id or "")
    assert done.status == "succeeded", done.error
    assert done.method is not None and done.method.type == "dpo"
    assert done.model == wrong  # continues the session's fine-tuned model
    sent = client.files.content(done.training_file).read().decode()
    assert sent == export.to_preference_jsonl(export.prompt_rows(engine, session))
    pairs = [json.loads(line) for line in sent.splitlines()]
    assert len(pairs) == len(PAIRS)
    preferred = {p["input"]["messages"][0]["content"]: p["preferred_output"][0]["content"]
                 for p in pairs}  # fmt: skip
    print(f"\nvotes -> DPO on the worker: {len(pairs)} pairs, e.g. {list(preferred.items())[:2]}")
    dataset = get_dataset(engine, request.dataset_id)
    assert dataset is not None and dataset.format == "preference"
