from __future__ import annotations

import csv
import io
import json

from sqlalchemy.engine import Engine

from core.evaluation import export, sessions, votes
from core.evaluation.arms import Arm
from core.store.engine import session_scope
from tests.core.evaluation.conftest import ScriptedProvider


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
    plan = [("A", ["a", "a", "b"]), ("B", ["a", "tie"]), ("A", ["tie"]), ("B", [])]
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
    assert [r.outcome for r in rows] == ["candidate", "opponent", "tie", "no votes"]
    assert (rows[0].candidate_votes, rows[0].opponent_votes) == (2, 1)
    assert rows[1].candidate_text.startswith("fine answer")
    parsed = list(csv.DictReader(io.StringIO(export.to_csv(rows))))
    assert len(parsed) == 4 and parsed[0]["prompt"] == 'Q0, "quoted"'
    assert parsed[1]["opponent_model"] == "base" and parsed[1]["votes_a"] == "1"


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
