"""The OpenAI cookbook's toy file: the verdict and counts its notebook reports."""

from __future__ import annotations

from tests.core.validation.helpers import FIXTURES, codes, findings, run

TOY = FIXTURES / "openai" / "toy_chat_fine_tuning.jsonl"


def test_toy_file_verdict_and_counts() -> None:
    report = run(TOY, model="gpt-3.5-turbo-0125")
    assert (report.verdict, report.format, report.examples) == ("not_ready", "chat", 5)
    assert [f.code for f in report.errors] == ["too_few_examples"]
    assert codes(report) == {"too_few_examples", "missing_system_message", "missing_user_message"}
    assert report.encoding == "cl100k_base"
    # The cookbook's num_tokens_from_messages: min 26, max 8,032 (the banana example).
    assert (report.tokens.min, report.tokens.max) == (26, 8032)
    [no_user] = findings(report, "missing_user_message")
    assert (no_user.line, no_user.example) == (4, 3)
    [no_system] = findings(report, "missing_system_message")
    assert no_system.line == 3 and "1 of 5" in no_system.message
    assert report.billed_tokens_per_epoch == report.tokens.total  # all under 16,385
    assert report.epochs == 20  # ceil(100 / 5) example-passes rule
    assert report.estimated_cost_usd is not None
