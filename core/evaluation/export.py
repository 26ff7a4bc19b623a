"""Exports of an A/B session: the per-prompt table, CSV, and DPO preference data.

The preference JSONL uses OpenAI's preference fine-tuning format
(``input.messages`` / ``preferred_output`` / ``non_preferred_output``), so the
team's votes can feed a DPO round directly; ``tunebot validate`` accepts it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass

from sqlalchemy.engine import Engine

from core.evaluation.votes import prompt_decision, vote_counts
from core.store.ab import prompts_of, responses_of
from core.store.evaluation import CANDIDATE, AbResponse, AbSession


@dataclass(frozen=True)
class PromptRow:
    """One prompt of a session, its answers and the votes on it."""

    number: int
    prompt: str
    author: str
    opponent: str
    candidate_model: str
    opponent_model: str
    candidate_position: str
    status: str
    votes_a: int
    votes_b: int
    ties: int
    both_bad: int
    candidate_votes: int
    opponent_votes: int
    outcome: str
    candidate_text: str
    opponent_text: str


def _outcome(status: str, candidate: int, opponent: int, ties: int, both_bad: int) -> str:
    """The prompt's decision, by the same rule as the statistics (most votes; a shared
    lead is a tie), so the table, the DPO pairs and the verdict agree."""
    if status != "answered":
        return "not counted"
    return prompt_decision(candidate=candidate, opponent=opponent, ties=ties, both_bad=both_bad)


def prompt_rows(engine: Engine, session: AbSession) -> list[PromptRow]:
    """Every prompt of the session in posting order, with per-button vote counts."""
    assert session.id is not None
    prompts = prompts_of(engine, session_id=session.id)
    responses = responses_of(engine, prompt_ids=[p.id for p in prompts if p.id is not None])
    by_prompt: dict[int, dict[str, AbResponse]] = {}
    for response in responses:
        by_prompt.setdefault(response.prompt_id, {})[response.arm] = response
    rows = []
    for number, prompt in enumerate(prompts, start=1):
        assert prompt.id is not None
        arms = by_prompt.get(prompt.id, {})
        counts = vote_counts(engine, prompt.id)
        a_is_candidate = prompt.candidate_position == "A"
        cand_votes = counts["a"] if a_is_candidate else counts["b"]
        opp_votes = counts["b"] if a_is_candidate else counts["a"]
        candidate, opponent = arms.get(CANDIDATE), arms.get(prompt.opponent)
        rows.append(
            PromptRow(
                number=number,
                prompt=prompt.text,
                author=prompt.author_id,
                opponent=prompt.opponent,
                candidate_model=candidate.model if candidate else session.candidate_model,
                opponent_model=opponent.model if opponent else session.baseline_model,
                candidate_position=prompt.candidate_position,
                status=prompt.status,
                votes_a=counts["a"],
                votes_b=counts["b"],
                ties=counts["tie"],
                both_bad=counts["both_bad"],
                candidate_votes=cand_votes,
                opponent_votes=opp_votes,
                outcome=_outcome(
                    prompt.status, cand_votes, opp_votes, counts["tie"], counts["both_bad"]
                ),
                candidate_text=(candidate.text or candidate.error or "") if candidate else "",
                opponent_text=(opponent.text or opponent.error or "") if opponent else "",
            )
        )
    return rows


def to_csv(rows: list[PromptRow]) -> str:
    """The table as CSV (one row per prompt, every column)."""
    buffer = io.StringIO()
    fields = list(PromptRow.__dataclass_fields__)
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    return buffer.getvalue()


def to_preference_jsonl(rows: list[PromptRow]) -> str:
    """Prompts the voters decided (more votes for one side) as DPO preference pairs.

    Ties, unvoted and uncounted prompts carry no preference and are left out.
    """
    lines = []
    for row in rows:
        if row.outcome not in ("candidate", "opponent"):
            continue
        won = row.outcome == "candidate"
        preferred = row.candidate_text if won else row.opponent_text
        other = row.opponent_text if won else row.candidate_text
        record = {
            "input": {"messages": [{"role": "user", "content": row.prompt}]},
            "preferred_output": [{"role": "assistant", "content": preferred}],
            "non_preferred_output": [{"role": "assistant", "content": other}],
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)
