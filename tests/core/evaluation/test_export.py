from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cli.main import app as cli_app
from core.evaluation import export, sessions, votes
from core.evaluation.arms import Arm
from core.store.engine import session_scope
from tests.core.evaluation.conftest import ScriptedProvider

_CLEAN_ENV = {"TUNEBOT_DEFAULT_MODEL": "gpt-4o-mini-2024-07-18"}


def _voted_session(engine: Engine, scripted: ScriptedProvider):  # type: ignore[no-untyped-def]
    scripted.set("ft", lambda m: "fine answer to " + m[-1]["content"])
    scripted.set("base", lambda m: "base answer to " + m[-1]["content"])
    session, _ = sessions.create_session(
        engine,
        request_id="x",
        channel_id="C",
        created_by="U",
        candidate=Arm("candidate", "worker", "ft"),
        baseline=Arm("baseline", "worker", "base"),
    )
    plan = [
        ("A", ["a", "a", "b"]),
        ("B", ["a", "a", "tie"]),
        ("A", ["tie"]),
        ("B", []),
        ("A", ["a", "both_bad", "both_bad"]),
        ("B", ["a", "tie"]),  # one for the opponent, one tie: not settled
    ]
    for number, (slot, choices) in enumerate(plan):
        prompt = sessions.record_prompt(
            engine, session, slack_ts=f"{number}.0", author_id="U", text=f'Q{number}, "quoted"'
        )
        prompt.candidate_position = slot
        with session_scope(engine) as db:
            db.add(prompt)
        sessions.generate(engine, session, prompt, providers={"worker": scripted})
        for voter, choice in enumerate(choices):
            votes.cast_vote(engine, prompt_id=prompt.id, user_id=f"U{voter}", choice=choice)
    return session


def test_per_prompt_rows_and_csv(engine: Engine, scripted: ScriptedProvider) -> None:
    rows = export.prompt_rows(engine, _voted_session(engine, scripted))
    outcomes = [r.outcome for r in rows]
    assert outcomes == ["candidate", "opponent", "tie", "no votes", "both bad", "tie"]
    assert (rows[0].candidate_votes, rows[0].opponent_votes) == (2, 1)
    assert rows[1].candidate_text.startswith("fine answer")
    parsed = list(csv.DictReader(io.StringIO(export.to_csv(rows))))
    assert len(parsed) == 6 and parsed[0]["prompt"] == 'Q0, "quoted"'
    assert parsed[1]["opponent_model"] == "base" and parsed[1]["votes_a"] == "2"


def test_preference_jsonl_keeps_decided_prompts(engine: Engine, scripted: ScriptedProvider) -> None:
    rows = export.prompt_rows(engine, _voted_session(engine, scripted))
    records = [json.loads(line) for line in export.to_preference_jsonl(rows).splitlines()]
    assert len(records) == 2
    first, second = records
    assert first["input"]["messages"] == [{"role": "user", "content": 'Q0, "quoted"'}]
    assert first["preferred_output"][0]["content"].startswith("fine answer")
    assert second["preferred_output"][0]["content"].startswith("base answer")
    assert second["non_preferred_output"] == [
        {"role": "assistant", "content": 'fine answer to Q1, "quoted"'}
    ]


def test_preference_export_round_trips_through_tunebot_validate(
    engine: Engine, scripted: ScriptedProvider, tmp_path: Path
) -> None:
    scripted.set("ft", lambda m: "A careful answer to " + m[-1]["content"])
    scripted.set("base", lambda m: "A sloppy answer to " + m[-1]["content"])
    session, _ = sessions.create_session(
        engine,
        request_id="dpo",
        channel_id="C",
        created_by="U",
        candidate=Arm("candidate", "worker", "ft"),
        baseline=Arm("baseline", "worker", "base"),
    )
    for number in range(12):  # OpenAI wants at least 10 examples
        prompt = sessions.record_prompt(
            engine, session, slack_ts=f"{number}.5", author_id="U", text=f"Question {number}?"
        )
        sessions.generate(engine, session, prompt, providers={"worker": scripted})
        choice = "a" if prompt.candidate_position == "A" else "b"
        votes.cast_vote(engine, prompt_id=prompt.id, user_id="U1", choice=choice)
    path = tmp_path / "preferences.jsonl"
    path.write_text(export.to_preference_jsonl(export.prompt_rows(engine, session)), "utf-8")
    result = CliRunner().invoke(cli_app, ["validate", str(path), "--json"], env=_CLEAN_ENV)
    report = json.loads(result.stdout)
    assert result.exit_code == 0, report["errors"]
    assert report["format"] == "preference" and report["examples"] == 12
    assert report["verdict"] in ("ready", "warnings") and report["errors"] == []
