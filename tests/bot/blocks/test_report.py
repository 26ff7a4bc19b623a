"""Report blocks: content, start buttons, and Slack's limits with huge error lists."""

from __future__ import annotations

import json

from bot.blocks.limits import MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT
from bot.blocks.report import build_report_blocks, build_report_text, summarise_findings
from bot.fakeslack.blocks import parse_blocks
from core.validation.report import Change, Finding, Report, TokenStats


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


def test_ready_report_opens_with_cost_and_start_buttons_then_compact_facts() -> None:
    blocks = build_report_blocks(
        _report(), dataset_short_id="ds-abc123", providers=["worker", "openai"], fixed_file=False
    )
    parse_blocks(blocks)
    assert blocks[0]["type"] == "header" and "Ready" in blocks[0]["text"]["text"]
    first = json.dumps(blocks[1])
    assert "$0.11" in first and "36,000" in first
    actions = blocks[2]
    assert actions["type"] == "actions"
    assert [e["action_id"] for e in actions["elements"]] == ["start_job:worker", "start_job:openai"]
    assert [e["value"] for e in actions["elements"]] == ["ds-abc123", "ds-abc123"]
    assert actions["elements"][0]["style"] == "primary"
    facts = blocks[3]
    assert facts["type"] == "context"
    assert "120 examples" in facts["elements"][0]["text"] and "p95 250" in json.dumps(facts)
    assert "ds-abc123" in json.dumps(blocks[-1])


def test_not_ready_report_opens_with_what_to_fix_and_offers_no_start() -> None:
    errors = [Finding(code="invalid_json", severity="error", message="Not JSON.", line=4)]
    blocks = build_report_blocks(
        _report(verdict="not_ready", errors=errors),
        dataset_short_id="ds-1",
        providers=["worker"],
        fixed_file=False,
    )
    parse_blocks(blocks)
    assert not [b for b in blocks if b["type"] == "actions"]
    first = json.dumps(blocks[1], ensure_ascii=False)
    assert "Fix these first" in first and "`invalid_json` ×1: Not JSON. — line 4" in first
    assert "jobs train on it" not in json.dumps(blocks)


def test_not_ready_report_with_a_fix_offers_to_validate_it() -> None:
    errors = [Finding(code="invalid_json", severity="error", message="Not JSON.", line=4)]
    changes = [Change(line=2, code="stripped", message="Whitespace stripped.")]
    blocks = build_report_blocks(
        _report(verdict="not_ready", errors=errors, changes=changes, fixed_examples=119),
        dataset_short_id="ds-1",
        providers=["worker"],
        fixed_file=True,
    )
    parse_blocks(blocks)
    dumped = json.dumps(blocks)
    assert "jobs train on it" not in dumped
    assert "1 change (119 examples kept)" in dumped and "1 changes" not in dumped
    (offer,) = [b for b in blocks if b.get("accessory")]
    button = offer["accessory"]
    assert button["text"]["text"] == "Validate fixed file"
    assert (button["action_id"], button["value"]) == ("validate_fixed", "ds-1")


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
