"""The validation report in the dataset's thread.

Long error lists are summarised per code (count, first message, first line
numbers) so any report fits in one message; the full report is attached as a
JSON file next to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.ids import START_ACTION_PREFIX, START_BUTTONS_BLOCK_ID
from bot.blocks.limits import (
    MAX_FIELD_TEXT,
    MAX_HEADER_TEXT,
    MAX_MESSAGE_BLOCKS,
    MAX_SECTION_TEXT,
    truncate,
)
from bot.blocks.mrkdwn import escape
from core.validation.report import Finding, Report

PROVIDER_LABELS = {
    "worker": "Fine-tune on worker",
    "openai": "Fine-tune on OpenAI",
    "azure": "Fine-tune on Azure OpenAI",
}
# A preference (DPO) file's buttons say how it trains.
DPO_LABELS = {
    "worker": "Train with DPO on worker",
    "openai": "Train with DPO on OpenAI",
    "azure": "Train with DPO on Azure OpenAI",
}
VERDICT_TITLES = {
    "ready": "✅ Ready to fine-tune",
    "warnings": "⚠️ Ready to fine-tune, with warnings",
    "not_ready": "❌ Not ready: fix the errors below",
}
LINES_SHOWN = 5
# Blocks kept free for the header, facts, notes, buttons and footer.
_RESERVED_BLOCKS = 10


def build_report_text(report: Report, *, dataset_short_id: str) -> str:
    """Plain-text summary: the notification text and the fallback when blocks fail."""
    title = VERDICT_TITLES[report.verdict]
    return (
        f"{title} — {escape(report.file_name)} (dataset {dataset_short_id}): "
        f"{report.examples:,} examples, "
        f"{len(report.errors):,} errors, {len(report.warnings):,} warnings."
    )


def build_report_blocks(
    report: Report,
    *,
    dataset_short_id: str,
    providers: Sequence[str],
    fixed_file: bool,
    costs: Sequence[tuple[str, float]] = (),
) -> list[dict[str, Any]]:
    """Blocks for a validation report.

    Parameters:
        dataset_short_id: the id people type in ``/finetune start``.
        providers: configured providers; one start button each (none when not ready).
        fixed_file: whether a fixed JSONL was attached (mentioned in the footer).
        costs: (model, USD) estimates on other models, shown as one line.
    """
    blocks: list[Block] = [
        HeaderBlock(text=truncate(VERDICT_TITLES[report.verdict], MAX_HEADER_TEXT)),
        SectionBlock(fields=_facts(report, dataset_short_id)),
    ]
    if costs and report.examples:
        line = " · ".join(f"{escape(model)} ${usd:,.2f}" for model, usd in costs)
        text = f"At {report.epochs} epochs on OpenAI: {line}. The worker has no API cost."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(text, 2000))]))
    budget = MAX_MESSAGE_BLOCKS - _RESERVED_BLOCKS
    for title, findings in (("Errors", report.errors), ("Warnings", report.warnings)):
        if findings:
            sections = _finding_sections(title, findings)
            blocks += sections[:budget]
            budget -= min(len(sections), budget)
    if report.notes:
        notes = "\n".join(f"• {escape(note)}" for note in report.notes)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(notes, MAX_SECTION_TEXT))))
    if report.verdict != "not_ready" and providers:
        labels = DPO_LABELS if report.format == "preference" else PROVIDER_LABELS
        blocks.append(_start_buttons(dataset_short_id, providers, labels=labels))
    blocks.append(DividerBlock())
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_footer(report, fixed_file))]))
    return [block.to_dict() for block in blocks]


def _facts(report: Report, dataset_short_id: str) -> list[MarkdownTextObject]:
    tokens = report.tokens
    estimated = " (estimate)" if tokens.estimated else ""
    cost = "unknown" if report.estimated_cost_usd is None else f"${report.estimated_cost_usd:,.2f}"
    facts = [
        f"*File*\n{escape(report.file_name)}",
        f"*Dataset id*\n`{dataset_short_id}`",
        f"*Format*\n{escape(report.format)} ({escape(report.file_type)})",
        f"*Examples*\n{report.examples:,}",
        f"*Tokens per example{estimated}*\n"
        f"mean {tokens.mean:,.0f} · p95 {tokens.p95:,} · max {tokens.max:,}",
        f"*Tokens in file*\n{tokens.total:,} ({tokens.assistant_total:,} trained)",
        f"*Billed per epoch*\n{report.billed_tokens_per_epoch:,} tokens × {report.epochs} epochs",
        f"*Estimated cost ({escape(report.model)})*\n{cost} for {report.trained_tokens:,} tokens",
    ]
    return [MarkdownTextObject(text=truncate(fact, MAX_FIELD_TEXT)) for fact in facts]


def summarise_findings(findings: Iterable[Finding]) -> list[str]:
    """One line per code: count, the first message, the first line numbers."""
    by_code: dict[str, list[Finding]] = {}
    for finding in findings:
        by_code.setdefault(finding.code, []).append(finding)
    lines = []
    for code, group in sorted(by_code.items(), key=lambda item: -len(item[1])):
        # One example can hold the same problem twice (e.g. both outputs of a pair).
        numbers = sorted({f.line for f in group if f.line is not None})
        where = ""
        if numbers:
            shown = ", ".join(str(n) for n in numbers[:LINES_SHOWN])
            more = f" and {len(numbers) - LINES_SHOWN:,} more" if len(numbers) > LINES_SHOWN else ""
            where = f" — line{'s' if len(numbers) > 1 else ''} {shown}{more}"
        # Findings quote the dataset (a cell, a key, a model's text): never live.
        fix = f" _Fix: {escape(group[0].fix)}_" if group[0].fix else ""
        message = escape(truncate(group[0].message, 300))
        lines.append(f"• `{escape(code)}` ×{len(group):,}: {message}{where}{fix}")
    return lines


def _finding_sections(title: str, findings: Sequence[Finding]) -> list[Block]:
    """The summary lines packed into as few sections as the 3,000-character limit allows."""
    lines = summarise_findings(findings)
    header = f"*{title}* ({len(findings):,})"
    sections: list[Block] = []
    current = header
    for line in lines:
        line = truncate(line, MAX_SECTION_TEXT - len(header) - 1)
        if len(current) + 1 + len(line) > MAX_SECTION_TEXT:
            sections.append(SectionBlock(text=MarkdownTextObject(text=current)))
            current = line
        else:
            current += "\n" + line
    sections.append(SectionBlock(text=MarkdownTextObject(text=current)))
    return sections


def _start_buttons(
    dataset_short_id: str, providers: Sequence[str], *, labels: dict[str, str]
) -> ActionsBlock:
    buttons = [
        ButtonElement(
            text=labels.get(name, f"Fine-tune on {name}"),
            action_id=f"{START_ACTION_PREFIX}{name}",
            value=dataset_short_id,
            style="primary" if index == 0 else None,
        )
        for index, name in enumerate(providers)
    ]
    return ActionsBlock(block_id=START_BUTTONS_BLOCK_ID, elements=buttons)


def _footer(report: Report, fixed_file: bool) -> str:
    parts = ["Full report attached as JSON."]
    if fixed_file:
        parts.append(f"Fixed file attached ({len(report.changes):,} changes); jobs train on it.")
    parts.append(f"Counted with {escape(report.encoding)}.")
    return " ".join(parts)
