from __future__ import annotations

import json
from typing import Any

from bot.blocks.ab import (
    RESPONSE_CHARS,
    AbAnswer,
    AbCard,
    build_pair_message,
    build_results,
    build_reveal,
    build_scoreboard,
    build_unblind_confirm,
    shown,
)
from bot.blocks.heldout import build_heldout_report, unreadable_judgements
from bot.blocks.limits import MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT
from core.evaluation.arms import Answer
from core.evaluation.examples import Example
from core.evaluation.export import PromptRow
from core.evaluation.heldout import HeldoutResult, ItemResult, ModelStats
from core.evaluation.judge import JudgeCall, JudgeOutcome
from core.evaluation.stats import Tally, summarize
from core.evaluation.votes import Scoreboard

FT = "ft:gpt-4o-mini:acme::secret1"
BASE = "gpt-4o-mini"


def _session(**extra: Any) -> AbCard:
    return AbCard(short_id="ab-123abc", candidate_model=FT, baseline_model=BASE, **extra)


def _response(
    arm: str, model: str, position: str, text: str | None, error: str | None = None
) -> AbAnswer:
    return AbAnswer(arm=arm, model=model, position=position, text=text, error=error)


def _texts(message: dict[str, Any]) -> str:
    return json.dumps(message)


def test_pair_message_is_blind_with_buttons_in_order() -> None:
    a = shown(_response("baseline", BASE, "A", "Answer one"), hidden_names=(FT, BASE))
    b = shown(_response("candidate", FT, "B", "Answer two"), hidden_names=(FT, BASE))
    message = build_pair_message(3, a, b, prompt_id=42)
    dumped = _texts(message)
    assert FT not in dumped and BASE not in dumped and "fine-tuned" not in dumped
    assert "Response A" in dumped and "Answer one" in dumped
    actions = next(blk for blk in message["blocks"] if blk["type"] == "actions")["elements"]
    assert [e["text"]["text"] for e in actions] == ["A is better", "B is better", "Tie", "Both bad"]
    assert [e["action_id"] for e in actions] == [
        "ab_vote_a",
        "ab_vote_b",
        "ab_vote_tie",
        "ab_vote_both_bad",
    ]
    assert {e["value"] for e in actions} == {"42"}


def test_long_answers_are_cut_and_failures_are_scrubbed() -> None:
    long = shown(_response("candidate", FT, "A", "word " * 2000), hidden_names=(FT, BASE))
    assert long.truncated and len(long.text) <= RESPONSE_CHARS
    failed = shown(
        _response("baseline", BASE, "B", None, error=f"The model `{BASE}` does not exist"),
        hidden_names=(FT, BASE),
    )
    assert failed.failed and BASE not in failed.text and "[model]" in failed.text
    message = build_pair_message(1, long, failed, prompt_id=1)
    assert not [blk for blk in message["blocks"] if blk["type"] == "actions"]
    assert "not counted" in _texts(message)
    assert all(
        len(blk.get("text", {}).get("text", "")) <= MAX_SECTION_TEXT for blk in message["blocks"]
    )


def test_scoreboard_shows_the_worked_check_and_the_rule() -> None:
    board = Scoreboard(
        prompts=22,
        counted_prompts=21,
        failed_prompts=1,
        votes=48,
        voters=4,
        summaries={"baseline": summarize(Tally(wins=14, losses=5, ties=3, a_wins=10, b_wins=9))},
        vote_tallies={"baseline": Tally(wins=31, losses=9, ties=6, both_bad=2)},
    )
    dumped = _texts(build_scoreboard(_session(), board))
    for expected in (
        "73.7%",
        "51.2%",
        "88.2%",
        "p = 0.064",
        "no significant difference",
        "10 decisive prompts",
        "p &lt; 0.05",  # escaped: Slack shows "p < 0.05"
        "each prompt counts once, decided by the majority of its votes",
        "Votes: fine-tuned wins *31*",
        "losses *9*",
        "Prompts, each decided by the majority of its votes: fine-tuned wins *14*",
        "Win rate over prompts (ties excluded): *73.7%*",
        "How to take part",
        "1 not counted",
    ):
        assert expected in dumped, expected


def test_reveal_names_both_models_and_the_change() -> None:
    revealed = {
        "A": _response("baseline", BASE, "A", "x"),
        "B": _response("candidate", FT, "B", "y"),
    }
    text = build_reveal(_session(), number=2, choice="b", previous="tie", revealed=revealed)
    assert "from *Tie* to *B is better*" in text
    assert f"A was *base* (`{BASE}`)" in text and f"B was *fine-tuned* (`{FT}`)" in text


def _row(number: int) -> PromptRow:
    return PromptRow(
        number=number,
        prompt="a fairly long prompt " * 5,
        author="U1",
        opponent="baseline",
        candidate_model=FT,
        opponent_model=BASE,
        candidate_position="A",
        status="answered",
        votes_a=2,
        votes_b=1,
        ties=0,
        both_bad=0,
        candidate_votes=2,
        opponent_votes=1,
        outcome="candidate",
        candidate_text="x",
        opponent_text="y",
    )


def test_results_table_stays_inside_slack_limits() -> None:
    board = Scoreboard(3000, 3000, 0, 0, 0, {"baseline": summarize(Tally())}, {})
    message = build_results(_session(), [_row(n) for n in range(1, 3001)], board)
    assert len(message["blocks"]) <= MAX_MESSAGE_BLOCKS
    assert all(
        len(b.get("text", {}).get("text", "")) <= MAX_SECTION_TEXT for b in message["blocks"]
    )
    assert "table is cut" in _texts(message)
    small = build_results(_session(), [_row(1)], board)
    assert "fine-tuned" in _texts(small) and "table is cut" not in _texts(small)


def test_heldout_report() -> None:
    example = Example([{"role": "user", "content": "Capital of France?"}], "Paris")
    lost = ItemResult(
        0,
        example,
        Answer("Lyon", None, 0.1, 5, 1),
        Answer("Paris", None, 0.2, 5, 1),
        JudgeOutcome((JudgeCall("A", "b", "B"), JudgeCall("B", "a", "A"))),
    )
    stats = ModelStats(FT, 1, 0, 0.0, 0.0, 0.1, 0.1, 5, 1)
    result = HeldoutResult(
        items=[lost],
        classification=False,
        candidate=stats,
        baseline=ModelStats(BASE, 1, 0, 1.0, 1.0, 0.2, 0.2, 5, 1),
        reference=summarize(Tally(losses=1)),
        judge=summarize(Tally(losses=1, a_wins=1, b_wins=1)),
        worst=[lost],
    )
    dumped = _texts(build_heldout_report(result, job_short_id="job-1", judge_model="gpt-4o"))
    for expected in (
        "Exact match",
        "token F1",
        "Latency",
        "Tokens",
        "judge `gpt-4o`",
        "both orders",
        "lost worst",
        "Capital of France?",
        "Position A chosen in 50.0%",
    ):
        assert expected in dumped, expected


def test_pair_quotes_its_prompt_escaped() -> None:
    a = shown(_response("baseline", BASE, "A", "one"), hidden_names=(FT, BASE))
    b = shown(_response("candidate", FT, "B", "two"), hidden_names=(FT, BASE))
    message = build_pair_message(1, a, b, prompt_id=7, prompt="How do I reset <@U0X>?\nThanks")
    head = message["blocks"][0]["text"]["text"]
    assert "> How do I reset &lt;@U0X&gt;?\n> Thanks" in head


def test_scoreboard_leads_with_the_verdict_and_reads_like_a_person_wrote_it() -> None:
    board = Scoreboard(
        prompts=30,
        counted_prompts=30,
        failed_prompts=0,
        votes=30,
        voters=1,
        summaries={"baseline": summarize(Tally(wins=25, losses=2, ties=3, a_wins=14, b_wins=13))},
        vote_tallies={"baseline": Tally(wins=25, losses=2, ties=3)},
    )
    message = build_scoreboard(_session(), board)
    first = message["blocks"][0]["text"]["text"]
    assert first.startswith(":vs: *A/B test `ab-123abc`: fine-tuned is better*")
    dumped = _texts(message)
    assert "p < 0.001" in dumped and "p = 0.000" not in dumped
    assert "from 1 person" in dumped and "1 people" not in dumped
    assert message["text"].startswith("A/B test ab-123abc: fine-tuned is better")


def test_results_ask_before_unblinding() -> None:
    ask = build_unblind_confirm("ab-123abc", 1)
    assert "1 prompt:" in ask["text"] and "no longer blind" in ask["text"]
    (button,) = ask["blocks"][1]["elements"]
    assert (button["action_id"], button["value"]) == ("ab_results", "ab-123abc")
    assert button["confirm"]["title"]["text"] == "Unblind this A/B test?"


def test_results_table_words_every_outcome() -> None:
    board = Scoreboard(1, 1, 0, 2, 2, {"baseline": summarize(Tally())}, {})
    row = _row(1)
    rows = [
        PromptRow(**{**row.__dict__, "outcome": outcome, "number": n})
        for n, outcome in enumerate(("both bad", "tie", "no votes", "not counted"), 1)
    ]
    dumped = _texts(build_results(_session(), rows, board))
    assert "both_bad" not in dumped and "both bad" in dumped


def _item(outcome_calls: tuple[JudgeCall, JudgeCall]) -> ItemResult:
    example = Example([{"role": "user", "content": "Q?"}], "A")
    return ItemResult(
        0,
        example,
        Answer("x", None, 0.1, 5, 1),
        Answer("y", None, 0.1, 5, 1),
        JudgeOutcome(outcome_calls),
    )


def test_heldout_report_says_when_no_verdict_is_possible_and_counts_unreadable_judges() -> None:
    won = _item((JudgeCall("A", "a", "A"), JudgeCall("B", "b", "B")))
    unreadable = _item((JudgeCall("A", "invalid", "I think both"), JudgeCall("B", "b", "B")))
    tie = _item((JudgeCall("A", "tie", "tie"), JudgeCall("B", "tie", "tie")))
    items = [won, unreadable, tie]
    stats = ModelStats(FT, 3, 0, 0.0, 0.0, 0.1, 0.1, 5, 1)
    result = HeldoutResult(
        items=items,
        classification=False,
        candidate=stats,
        baseline=stats,
        reference=summarize(Tally(ties=3)),
        judge=summarize(Tally(wins=1, ties=2)),
        worst=[],
    )
    assert unreadable_judgements(items) == 1
    dumped = _texts(build_heldout_report(result, job_short_id="job-1", judge_model="gpt-4o"))
    assert "Too few prompts for any verdict" in dumped and "3 prompts can never" in dumped
    assert "ties *1*" in dumped and "unreadable judge answers *1*" in dumped
    many = HeldoutResult(**{**result.__dict__, "items": items * 4})
    assert "Too few" not in _texts(build_heldout_report(many, job_short_id="j", judge_model=None))
