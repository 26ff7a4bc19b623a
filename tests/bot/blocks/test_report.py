"""Report blocks: content, start buttons, and Slack's limits with huge error lists."""

from __future__ import annotations

import json

from bot.blocks.limits import MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT
from bot.blocks.report import build_report_blocks, build_report_text, summarise_findings
from bot.fakeslack.blocks import parse_blocks
from core.validation.report import Finding, Report, TokenStats


def _report(**fields: object) -> Report:
    values: dict[str, object] = {
        "file_name": "faq.jsonl",
        "file_type": "jsonl",
        "verdict": "ready",
        "format": "chat",
        "examples": 120,
        "tokens": TokenStats(total=12_000, min=40, max=300, mean=100.0, p50=90, p95=250),
        "billed_tokens_per_epoch": 12_000,
        "epochs": 3,
        "trained_tokens": 36_000,
        "estimated_cost_usd": 0.108,
        "model": "gpt-4o-mini-2024-07-18",
        "encoding": "o200k_base",
    }
    values.update(fields)
    return Report(**values)  # type: ignore[arg-type]


def test_ready_report_has_facts_and_one_button_per_provider() -> None:
    blocks = build_report_blocks(
        _report(), dataset_short_id="ds-abc123", providers=["worker", "openai"], fixed_file=False
    )
    parse_blocks(blocks)
    assert blocks[0]["type"] == "header" and "Ready" in blocks[0]["text"]["text"]
    facts = json.dumps(blocks[1])
    assert "ds-abc123" in facts and "120" in facts and "$0.11" in facts and "36,000" in facts
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["start_job:worker", "start_job:openai"]
    assert [e["value"] for e in actions["elements"]] == ["ds-abc123", "ds-abc123"]
    assert actions["elements"][0]["style"] == "primary"


def test_not_ready_report_offers_no_buttons() -> None:
    errors = [Finding(code="invalid_json", severity="error", message="Not JSON.", line=4)]
    blocks = build_report_blocks(
        _report(verdict="not_ready", errors=errors),
        dataset_short_id="ds-1",
        providers=["worker"],
        fixed_file=False,
    )
    assert not [b for b in blocks if b["type"] == "actions"]
    assert "`invalid_json` ×1: Not JSON. — line 4" in json.dumps(blocks, ensure_ascii=False)


def test_thousands_of_findings_stay_inside_slacks_limits() -> None:
    errors = [
        Finding(
            code=f"code_{i % 80}", severity="error", message="x" * 400, line=i + 1, fix="y" * 200
        )
        for i in range(5000)
    ]
    warnings = [
        Finding(code="long_example", severity="warning", message="w", line=i) for i in range(3000)
    ]
    blocks = build_report_blocks(
        _report(verdict="not_ready", errors=errors, warnings=warnings, notes=["n" * 5000]),
        dataset_short_id="ds-1",
        providers=[],
        fixed_file=True,
    )
    parse_blocks(blocks)  # the fake Slack's checker: raises on any limit
    assert len(blocks) <= MAX_MESSAGE_BLOCKS
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= MAX_SECTION_TEXT


def test_summary_groups_by_code_with_first_lines() -> None:
    findings = [Finding(code="a", severity="error", message=f"m{i}", line=i) for i in range(1, 9)]
    findings.append(Finding(code="b", severity="error", message="once"))
    assert summarise_findings(findings) == [
        "• `a` ×8: m1 — lines 1, 2, 3, 4, 5 and 3 more",
        "• `b` ×1: once",
    ]


def test_fallback_text_names_file_and_counts() -> None:
    text = build_report_text(_report(), dataset_short_id="ds-9")
    assert "faq.jsonl" in text and "ds-9" in text and "120 examples" in text


def test_costs_on_other_models_are_one_context_line() -> None:
    blocks = build_report_blocks(
        _report(),
        dataset_short_id="ds-1",
        providers=[],
        fixed_file=False,
        costs=[("gpt-4.1-nano", 0.05), ("gpt-4.1", 0.9)],
    )
    parse_blocks(blocks)
    assert blocks[2]["type"] == "context"
    assert blocks[2]["elements"][0]["text"] == (
        "At 3 epochs on OpenAI: gpt-4.1-nano $0.05 · gpt-4.1 $0.90. The worker has no API cost."
    )


def test_summary_names_each_line_once() -> None:
    findings = [
        Finding(code="invalid_preference", severity="error", message="bad", line=15),
        Finding(code="invalid_preference", severity="error", message="bad", line=15),
        Finding(code="invalid_preference", severity="error", message="bad", line=9),
    ]
    (line,) = summarise_findings(findings)
    assert line.endswith("— lines 9, 15")
