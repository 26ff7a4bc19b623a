"""The held-out evaluation job: queued when a job with validation data has succeeded,
run against FakeOpenAI through the real provider, posted once to the job's thread."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.background.evaluations import run_pending_heldout, start_evaluation_scheduler
from bot.fakeslack.api import FakeSlack
from core.evaluation.runs import queue_runs
from core.storage import SharedStorage
from core.store.datasets import Dataset
from core.store.engine import session_scope
from core.store.evaluation import HeldoutRun, JudgeVerdict
from core.store.jobs import TrainingJob
from core.store.progress import POSTED, JobMessage
from tests.bot.harness import (
    ALICE,
    CHANNEL,
    RunningBot,
    make_settings,
    seed_finished_job,
    start_bot,
    write_chat_jsonl,
)
from tests.fakes.openai_api import FakeOpenAI

FT = "ft:gpt-4o-mini-2024-07-18:org-tunebot::heldout"
BASE = "gpt-4o-mini"
ANSWERS = {f"Capital of country {i}?": f"City {i}" for i in range(8)}


@pytest.fixture
def bot(tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI) -> Iterator[RunningBot]:
    settings = make_settings(
        tmp_path,
        fake_slack,
        OPENAI_API_KEY=fake_openai.api_key,
        OPENAI_BASE_URL=fake_openai.base_url,
        TUNEBOT_PROVIDER_MAX_RETRIES=0,
        TUNEBOT_JUDGE_MODEL="gpt-4o",
        TUNEBOT_EVAL_MAX_PROMPTS=6,
        TUNEBOT_EVAL_CONCURRENCY=3,
    )
    running = start_bot(settings, fake_slack)
    yield running
    running.stop()


def _job(bot: RunningBot, tmp_path: Path, *, status: str = "succeeded") -> dict[str, Any]:
    valid = write_chat_jsonl(tmp_path / "valid.jsonl", ANSWERS)
    return seed_finished_job(
        bot,
        dataset_short_id="ds-ho0001",
        job_short_id="job-ho0001",
        base_model=BASE,
        fine_tuned_model=FT,
        status=status,
        validation_path=valid,
    )


def _run(bot: RunningBot) -> int:
    ctx = bot.ctx
    return run_pending_heldout(
        settings=ctx.settings, engine=ctx.engine, providers=ctx.providers, client=ctx.client
    )


def test_report_posted_once_with_scores_judge_and_csv(
    bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.set_responder(FT, lambda m, b: ANSWERS[m[-1]["content"]])
    fake_openai.set_responder(BASE, lambda m, b: "I am not sure.")
    fake_openai.set_responder("gpt-4o", lambda m, b: "Verdict: A")  # always the first slot
    parent = _job(bot, tmp_path, status="running")
    assert _run(bot) == 0  # not finished yet: nothing queued
    with session_scope(bot.ctx.engine) as db:
        job = db.exec(select(TrainingJob)).one()
        job.status = "succeeded"
        db.add(job)
    assert _run(bot) == 1
    (report,) = [m for m in bot.slack.bot_messages(CHANNEL, parent["ts"]) if m.get("blocks")]
    text = json.dumps(report["blocks"])
    assert "Held-out evaluation of job `job-ho0001`" in text and "6 prompts" in text
    assert "Exact match: *100.0%*" in text and "Exact match: *0.0%*" in text
    assert "both orders" in text and "Position A chosen in 100.0%" in text
    (upload,) = bot.slack.uploads(CHANNEL, parent["ts"])
    assert upload["filename"] == "heldout-job-ho0001.csv"
    assert upload["content"].decode().count("\n") == 7
    with session_scope(bot.ctx.engine) as db:
        run = db.exec(select(HeldoutRun)).one()
        verdicts = db.exec(select(JudgeVerdict)).all()
    assert run.status == "done" and run.posted_ts == report["ts"] and len(verdicts) == 12
    assert _run(bot) == 0
    posted = bot.slack.bot_messages(CHANNEL, parent["ts"])
    assert sum("Held-out evaluation" in (m.get("text") or "") for m in posted) == 1


def test_missing_heldout_file_is_reported_in_the_thread(bot: RunningBot, tmp_path: Path) -> None:
    parent = _job(bot, tmp_path)
    queue_runs(bot.ctx.engine, storage=SharedStorage.from_settings(bot.ctx.settings))
    (tmp_path / "valid.jsonl").unlink()  # e.g. the data folder was cleaned meanwhile
    assert _run(bot) == 1
    (message,) = bot.slack.bot_messages(CHANNEL, parent["ts"])
    assert "could not run" in message["text"] and "missing" in message["text"]


def test_evaluation_scheduler_runs_the_tick_on_its_own(
    bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.set_responder(FT, lambda m, b: ANSWERS[m[-1]["content"]])
    fake_openai.set_responder(BASE, lambda m, b: ANSWERS[m[-1]["content"]])
    fake_openai.set_responder("gpt-4o", lambda m, b: "Verdict: tie")
    parent = _job(bot, tmp_path)
    scheduler = start_evaluation_scheduler(bot.ctx, seconds=0.2)
    try:
        bot.slack.wait_for(
            lambda: [
                m
                for m in bot.slack.bot_messages(CHANNEL, parent["ts"])
                if "Held-out evaluation" in (m.get("text") or "")
            ],
            timeout=15.0,
            message="the held-out report",
        )
    finally:
        scheduler.shutdown(wait=True)
    with session_scope(bot.ctx.engine) as db:
        assert db.exec(select(HeldoutRun)).one().posted_ts


def test_heldout_command_with_a_dataset_given_by_the_user(
    bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.set_responder(FT, lambda m, b: ANSWERS[m[-1]["content"]])
    fake_openai.set_responder(BASE, lambda m, b: "no idea")
    fake_openai.set_responder("gpt-4o", lambda m, b: "Verdict: tie")
    parent = _job(bot, tmp_path)
    with session_scope(bot.ctx.engine) as db:
        dataset = db.exec(select(Dataset)).one()
        other = Dataset(
            **{
                **dataset.model_dump(exclude={"id"}),
                "short_id": "ds-given01",
                "training_path": dataset.validation_path,
                "validation_path": None,
            }
        )
        dataset.validation_path = None  # the job itself had no split
        db.add(dataset)
        db.add(other)
    send = bot.sender.command
    send("ab heldout job-ho0001", user_id=ALICE, channel_id=CHANNEL)
    send("ab heldout job-ho0001 --data ds-given01", user_id=ALICE, channel_id=CHANNEL)
    send("ab heldout job-ho0001 --data ds-given01", user_id=ALICE, channel_id=CHANNEL)
    replies = bot.slack.wait_for(
        lambda: len(r := bot.slack.responses(CHANNEL, ALICE)) >= 3 and r, timeout=15.0
    )
    texts = sorted(r["text"] for r in replies)
    assert any("no held-out data" in t for t in texts)
    assert any(t.startswith("Queued the held-out evaluation") for t in texts)
    assert any("already evaluated" in t for t in texts)
    assert _run(bot) == 1
    report = [m for m in bot.slack.bot_messages(CHANNEL, parent["ts"]) if m.get("blocks")]
    assert "Exact match: *100.0%*" in json.dumps(report[0]["blocks"])


class Crash(BaseException):
    """The process dying at a chosen line (BaseException: nothing catches it)."""


def _reports(bot: RunningBot, parent: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The held-out report messages and the names of the files uploaded in the thread."""
    messages = bot.slack.bot_messages(CHANNEL, parent["ts"])
    reports = [m for m in messages if "Held-out evaluation" in (m.get("text") or "")]
    return reports, [u["filename"] for u in bot.slack.uploads(CHANNEL, parent["ts"])]


@pytest.mark.parametrize(
    ("where", "target", "key", "in_slack"),
    [
        ("finished, nothing posted", "bot.flows.heldout.post_report", None, (0, 0)),
        ("report posted, not recorded", "bot.background.poster.record_posted", "heldout", (1, 0)),
        ("CSV posted, not recorded", "bot.background.poster.record_posted", "heldout:csv", (1, 1)),
        ("both recorded, run not marked", "bot.flows.heldout.mark_posted", None, (1, 1)),
    ],
)
def test_a_crash_at_any_step_of_posting_neither_loses_nor_doubles_the_report(
    bot: RunningBot,
    tmp_path: Path,
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    target: str,
    key: str | None,
    in_slack: tuple[int, int],
) -> None:
    fake_openai.set_responder(FT, lambda m, b: ANSWERS[m[-1]["content"]])
    fake_openai.set_responder(BASE, lambda m, b: "I am not sure.")
    fake_openai.set_responder("gpt-4o", lambda m, b: "Verdict: tie")
    parent = _job(bot, tmp_path)
    module_name, _, name = target.rpartition(".")
    module = importlib.import_module(module_name)
    real = getattr(module, name)

    def die(*args: Any, **kwargs: Any) -> Any:
        if key is None or kwargs.get("key") == key:
            raise Crash
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, die)
    with pytest.raises(Crash):
        _run(bot)
    monkeypatch.setattr(module, name, real)
    with session_scope(bot.ctx.engine) as db:
        run = db.exec(select(HeldoutRun)).one()
    assert run.status == "done" and run.posted_ts is None, where
    reports, files = _reports(bot, parent)
    assert (len(reports), len(files)) == in_slack  # what Slack got before the crash

    # Restarted within the lease: the dead process's claim still holds it.
    assert _run(bot) == 0
    # Once the lease ran out, a new process posts what is missing, and only that.
    ctx = bot.ctx
    runs = run_pending_heldout(
        settings=ctx.settings,
        engine=ctx.engine,
        providers=ctx.providers,
        client=ctx.client,
        report_lease=timedelta(0),
    )
    assert runs == 1
    reports, files = _reports(bot, parent)
    assert len(reports) == 1 and files == ["heldout-job-ho0001.csv"], where
    with session_scope(bot.ctx.engine) as db:
        run = db.exec(select(HeldoutRun)).one()
        records = {m.key: m for m in db.exec(select(JobMessage)).all()}
    assert run.posted_ts == reports[0]["ts"] == records["heldout"].ts
    assert records["heldout"].state == records["heldout:csv"].state == POSTED
    assert (
        run_pending_heldout(
            settings=ctx.settings,
            engine=ctx.engine,
            providers=ctx.providers,
            client=ctx.client,
            report_lease=timedelta(0),
        )
        == 0
    )
    assert _reports(bot, parent) == (reports, files)


def test_slack_refusing_the_report_leaves_it_for_the_next_tick(
    bot: RunningBot, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.set_responder(FT, lambda m, b: ANSWERS[m[-1]["content"]])
    fake_openai.set_responder(BASE, lambda m, b: "I am not sure.")
    fake_openai.set_responder("gpt-4o", lambda m, b: "Verdict: tie")
    parent = _job(bot, tmp_path)
    bot.slack.fail_next("chat.postMessage", error="internal_error", status=200, times=2)
    assert _run(bot) == 0  # evaluated, Slack said no: the claim is given back
    assert _run(bot) == 0  # the leftover is tried once per tick, not in a loop
    assert _reports(bot, parent) == ([], [])
    assert _run(bot) == 1
    reports, files = _reports(bot, parent)
    assert len(reports) == 1 and files == ["heldout-job-ho0001.csv"]
    with session_scope(bot.ctx.engine) as db:
        assert db.exec(select(HeldoutRun)).one().posted_ts == reports[0]["ts"]
