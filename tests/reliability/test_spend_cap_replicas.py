"""The monthly spend cap holds across replicas sharing one database.

Eight real processes (each a replica calling core's start function against the
fake OpenAI) race to start one job each; the budget affords exactly two. Before
the check and the insert were one serialised step, 8 processes with a budget
for one job started 8, 6 and 8 jobs. Five runs in a row, on SQLite and on a
throwaway PostgreSQL; the per-run counts are printed (``-s``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import delete, select

from core.store.datasets import Dataset
from core.store.engine import create_db_engine, init_db, session_scope
from core.store.jobs import TrainingJob
from core.validation.report import Report, TokenStats
from tests.fakes.openai_api import FakeOpenAI
from tests.reliability.serve_process import ROOT

REPLICAS = 8
RUNS = 5
JOB_USD = 1.0  # 1M billed tokens x 1 epoch at $1 per 1M (TUNEBOT_PRICES below)
BUDGET_USD = 2.5
AFFORDABLE = 2
MODEL = "gpt-4o-mini-2024-07-18"
REPLICA = "tests.reliability.spend_cap_replica"


def _seed(database_url: str, tmp_path: Path) -> list[int]:
    engine = create_db_engine(database_url)
    init_db(engine)
    training = tmp_path / "train.jsonl"
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    training.write_text(json.dumps(line) + "\n", encoding="utf-8")
    report = Report(
        file_name="train.jsonl",
        file_type="jsonl",
        verdict="ready",
        format="chat",
        examples=12,
        tokens=TokenStats(total=1_000_000, min=1, max=1, mean=1.0, p50=1, p95=1),
        billed_tokens_per_epoch=1_000_000,
        epochs=1,
        trained_tokens=1_000_000,
        model=MODEL,
        encoding="o200k_base",
    )
    ids = []
    with session_scope(engine) as session:
        for n in range(REPLICAS):  # one dataset each: a replica per person starting a job
            dataset = Dataset(
                short_id=f"ds-{n:06d}",
                slack_file_id=f"F{n}",
                channel_id="C0TUNEBOT",
                thread_ts=f"{n}.0",
                uploader_id="U0ALICE",
                file_name="train.jsonl",
                sha256="0" * 64,
                verdict="ready",
                format="chat",
                examples=12,
                model=MODEL,
                report_json=report.model_dump_json(),
                training_path=str(training),
            )
            session.add(dataset)
            session.flush()
            ids.append(dataset.id)
    engine.dispose()
    return [i for i in ids if i is not None]


def _runs(database_url: str, tmp_path: Path, openai: FakeOpenAI, name: str) -> None:
    dataset_ids = _seed(database_url, tmp_path)
    go = tmp_path / "go"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TUNEBOT_", "OPENAI_", "AZURE_"))
    }
    env.update(
        DATABASE_URL=database_url,
        OPENAI_API_KEY=openai.api_key,
        OPENAI_BASE_URL=openai.base_url,
        TUNEBOT_MONTHLY_BUDGET_USD=str(BUDGET_USD),
        TUNEBOT_PRICES=json.dumps({MODEL: JOB_USD}),
        TUNEBOT_DATA_DIR=str(tmp_path / "data"),
        SPEND_CAP_GO=str(go),
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", REPLICA, str(dataset), str(n), str(RUNS)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n, dataset in enumerate(dataset_ids)
    ]
    engine = create_db_engine(database_url)
    counts = []
    try:
        for run in range(RUNS):
            Path(f"{go}-{run}").touch()  # all eight race for the budget now
            said = [_line(process) for process in processes]
            with session_scope(engine) as session:
                rows = session.exec(select(TrainingJob)).all()
                launched = sum(1 for job in rows if job.provider_job_id)
                assert said.count("started") == len(rows), said
                session.exec(delete(TrainingJob))  # type: ignore[call-overload]  # next run: $0
            counts.append((len(rows), launched))
    finally:
        for process in processes:
            if process.poll() is None:  # a failed run leaves replicas waiting
                process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        engine.dispose()
    print(
        f"\n{name}: {REPLICAS} replicas, budget ${BUDGET_USD} for ${JOB_USD} jobs "
        f"(affordable {AFFORDABLE}); jobs per run: {[jobs for jobs, _ in counts]}, "
        f"created at the provider: {[launched for _, launched in counts]}"
    )
    assert counts == [(AFFORDABLE, AFFORDABLE)] * RUNS


def _line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line in ("started", "refused"), f"replica said {line!r}, exit {process.poll()}"
    return line


def test_spend_cap_holds_across_replicas_on_sqlite(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    _runs(f"sqlite:///{tmp_path / 'shared.db'}", tmp_path, fake_openai, "SQLite")


@pytest.mark.postgres
def test_spend_cap_holds_across_replicas_on_postgresql(
    tmp_path: Path, fake_openai: FakeOpenAI, postgres_url: str
) -> None:
    _runs(postgres_url, tmp_path, fake_openai, "PostgreSQL")
