from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from core.config import Settings
from core.errors import EvaluationError
from core.evaluation import runs
from core.storage import SharedStorage
from core.store.datasets import Dataset
from core.store.engine import session_scope
from core.store.evaluation import HeldoutItem, HeldoutRun, JudgeVerdict
from core.store.jobs import TrainingJob
from core.training.start import JobOptions, _job_files
from tests.core.evaluation.conftest import ScriptedProvider


def _job(
    engine: Engine, tmp_path: Path, *, validation: bool = True, status: str = "succeeded"
) -> TrainingJob:
    path = tmp_path / "valid.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"q{i}"},
                        {"role": "assistant", "content": f"answer {i}"},
                    ]
                }
            )
            + "\n"
            for i in range(6)
        ),
        encoding="utf-8",
    )
    with session_scope(engine) as db:
        dataset = Dataset(
            short_id=f"ds-{status[:3]}{int(validation)}",
            slack_file_id="F1",
            channel_id="C1",
            thread_ts="1.0",
            uploader_id="U1",
            file_name="d.jsonl",
            sha256="x",
            verdict="ok",
            format="chat",
            model="m",
            report_json="{}",
            validation_path=str(path) if validation else None,
        )
        db.add(dataset)
        db.flush()
        job = TrainingJob(
            short_id=f"job-{status[:3]}{int(validation)}",
            request_id=f"r-{status}{validation}",
            dataset_id=dataset.id,
            provider="worker",
            base_model="base",
            fine_tuned_model="ft",
            status=status,
            channel_id="C1",
            thread_ts="1.0",
            started_by="U1",
        )
        db.add(job)
    return job


def test_queue_once_per_job_with_heldout_data(engine: Engine, tmp_path: Path) -> None:
    job = _job(engine, tmp_path)
    _job(engine, tmp_path, validation=False)
    _job(engine, tmp_path, status="running")
    assert len(runs.queue_runs(engine, storage=SharedStorage(str(tmp_path)))) == 1
    assert runs.queue_runs(engine, storage=SharedStorage(str(tmp_path))) == []
    assert runs.queue_run(engine, job_id=job.id, data_path="x") is None


def test_claim_is_exclusive_and_execute_records_everything(
    engine: Engine, tmp_path: Path, scripted: ScriptedProvider
) -> None:
    _job(engine, tmp_path)
    runs.queue_runs(engine, storage=SharedStorage(str(tmp_path)))
    run = runs.claim_run(engine)
    assert run is not None and run.status == "running"
    assert runs.claim_run(engine) is None
    scripted.set("ft", lambda m: "answer " + m[-1]["content"][1:])
    scripted.set("base", lambda m: "no")
    scripted.set("judge", lambda m: "Verdict: B")
    settings = Settings(TUNEBOT_JUDGE_MODEL="worker:judge", TUNEBOT_EVAL_MAX_PROMPTS=4)
    result = runs.execute_run(
        engine,
        run,
        providers={"worker": scripted},
        settings=settings,
    )
    assert len(result.items) == 4 and result.candidate.exact_match == 1.0
    with session_scope(engine) as db:
        stored = db.get(HeldoutRun, run.id)
        items = db.exec(select(HeldoutItem)).all()
        verdicts = db.exec(select(JudgeVerdict)).all()
    assert stored.status == "done" and json.loads(stored.summary_json)["prompts"] == 4
    assert len(items) == 4 and len(verdicts) == 8
    assert {v.candidate_position for v in verdicts} == {"A", "B"}
    # The report is stored with the status, and this process holds it for posting.
    report = runs.stored_report(stored)
    assert report is not None and len(report.result.items) == 4 and stored.posting_since
    assert runs.claim_report(engine) is None  # held by us; others wait for the lease
    taken = runs.claim_report(engine, lease=timedelta(0))  # ...unless we died
    assert taken is not None and taken.id == run.id
    runs.release_report(engine, run.id)  # Slack failed: the next tick retries at once
    assert runs.claim_report(engine) is not None
    runs.mark_posted(engine, run.id, "9.9")
    assert runs.claim_report(engine, lease=timedelta(0)) is None  # posted: never again


def test_missing_file_fails_the_run_with_a_message(engine: Engine, tmp_path: Path) -> None:
    _job(engine, tmp_path)
    runs.queue_runs(engine, storage=SharedStorage(str(tmp_path)))
    run = runs.claim_run(engine)
    Path(run.data_path).unlink()
    with pytest.raises(EvaluationError):
        runs.execute_run(engine, run, providers={}, settings=Settings())
    with session_scope(engine) as db:
        stored = db.get(HeldoutRun, run.id)
    assert stored.status == "failed" and "missing" in stored.error
    assert stored.report_json is None and stored.posting_since  # the failure is posted instead


def test_split_made_at_job_start_is_found(engine: Engine, tmp_path: Path) -> None:
    job = _job(engine, tmp_path, validation=False)
    train = tmp_path / "train.jsonl"
    train.write_text((tmp_path / "valid.jsonl").read_text("utf-8"), "utf-8")
    with session_scope(engine) as db:
        dataset = db.exec(select(Dataset)).one()
        dataset.training_path = str(train)
        db.add(dataset)
    settings = Settings(_env_file=None, TUNEBOT_DATA_DIR=tmp_path / "data")  # type: ignore[call-arg]
    options = JobOptions(provider="worker", base_model="base", validation_split=0.5)
    with _job_files(engine, job, options, settings=settings):  # as job start does
        pass
    storage = SharedStorage.from_settings(settings)
    assert runs.queue_runs(engine, storage=storage) != []
    with session_scope(engine) as db:
        stored = db.exec(select(HeldoutRun)).one().data_path
    assert stored == storage.location(f"jobs/{job.short_id}/validation.jsonl")
    assert len(runs.read_shared_examples(storage, stored)) == 3  # half of the six


def test_judge_spec() -> None:
    assert runs.judge_arm(Settings(), default_provider="worker") is None
    arm = runs.judge_arm(Settings(TUNEBOT_JUDGE_MODEL="gpt-4o"), default_provider="worker")
    assert (arm.provider, arm.model) == ("worker", "gpt-4o")
    arm = runs.judge_arm(
        Settings(TUNEBOT_JUDGE_MODEL="gpt-4o", OPENAI_API_KEY="sk-test"), default_provider="worker"
    )
    assert arm.provider == "openai"
    arm = runs.judge_arm(
        Settings(TUNEBOT_JUDGE_MODEL="azure:judge-deploy"), default_provider="worker"
    )
    assert (arm.provider, arm.model) == ("azure", "judge-deploy")
    arm = runs.judge_arm(
        Settings(TUNEBOT_JUDGE_MODEL="ft:gpt-4o:org::x"), default_provider="openai"
    )
    assert arm.model == "ft:gpt-4o:org::x"
