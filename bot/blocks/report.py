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

from bot.blocks.ids import START_ACTION_PREFIX, START_BUTTONS_BLOCK_ID, VALIDATE_FIXED_ACTION_ID
from bot.blocks.limits import (
    MAX_HEADER_TEXT,
    MAX_MESSAGE_BLOCKS,
    MAX_SECTION_TEXT,
    truncate,
)
from bot.blocks.mrkdwn import escape
from bot.blocks.text import DPO_LABELS, START_LABELS, VERDICT_TITLES, plural
from core.validation.report import Finding, Report

LINES_SHOWN = 5
# Blocks kept free for the header, facts, notes, buttons and footer.
_RESERVED_BLOCKS = 10


def build_report_text(report: Report, *, dataset_short_id: str) -> str:
    """Plain-text summary: the notification text and the fallback when blocks fail."""
    title = VERDICT_TITLES[report.verdict]
    errors = f"{plural(len(report.errors), 'error')}, " if report.errors else ""
    return (
        f"{title} — {escape(report.file_name)} (dataset {dataset_short_id}): "
        f"{plural(report.examples, 'example')}, {errors}{plural(len(report.warnings), 'warning')}."
    )


def build_report_blocks(
    report: Report,
    *,
    dataset_short_id: str,
    providers: Sequence[str],
    fixed_file: bool,
    costs: Sequence[tuple[str, float]] = (),
) -> list[dict[str, Any]]:
    """Blocks for a validation report: what to do first, the facts after.

    A not-ready file opens with its errors (and the **Validate fixed file**
    button when a fix was written); a ready one with its cost and the start
    buttons. The facts follow as one compact line.

    Parameters:
        dataset_short_id: the id people type in ``/finetune start``.
        providers: configured providers; one start button each (none when not ready).
        fixed_file: whether a fixed JSONL was attached.
        costs: (model, USD) estimates on other models, shown as one line.
    """
    blocks: list[Block] = [
        HeaderBlock(text=truncate(VERDICT_TITLES[report.verdict], MAX_HEADER_TEXT))
    ]
    budget = MAX_MESSAGE_BLOCKS - _RESERVED_BLOCKS
    if report.verdict == "not_ready":
        sections = _finding_sections("Fix these first", report.errors)
        blocks += sections[:budget]
        budget -= min(len(sections), budget)
        if fixed_file:
            blocks.append(_fixed_file_offer(report, dataset_short_id))
    else:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_cost_line(report))))
        if costs and report.examples:
            line = " · ".join(f"{escape(model)} ${usd:,.2f}" for model, usd in costs)
            text = f"At {report.epochs} epochs on OpenAI: {line}. The worker has no API cost."
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(text, 2000))]))
        if providers:
            labels = DPO_LABELS if report.format == "preference" else START_LABELS
            blocks.append(_start_buttons(dataset_short_id, providers, labels=labels))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_facts(report))]))
    if report.warnings:
        blocks += _finding_sections("Warnings", report.warnings)[: max(budget, 1)]
    if report.notes:
        notes = "\n".join(f"• {escape(note)}" for note in report.notes)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(notes, MAX_SECTION_TEXT))))
    blocks.append(DividerBlock())
    footer = _footer(report, fixed_file, dataset_short_id)
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=footer)]))
    return [block.to_dict() for block in blocks]


def _cost_line(report: Report) -> str:
    epochs = plural(report.epochs, "epoch")
    if report.estimated_cost_usd is None:
        cost = "*No API price for this model* (the team's worker has no API cost)"
    else:
        cost = f"*Estimated cost: ${report.estimated_cost_usd:,.2f}*"
    return truncate(
        f"{cost} for {report.trained_tokens:,} trained tokens "
        f"({epochs} on `{escape(report.model)}`). Pick where to train:",
        MAX_SECTION_TEXT,
    )


def _facts(report: Report) -> str:
    """Examples, format and token percentiles in one context line."""
    tokens = report.tokens
    estimated = " (estimated)" if tokens.estimated else ""
    text = (
        f"{plural(report.examples, 'example')} · "
        f"{escape(report.format)} ({escape(report.file_type)}) · "
        f"tokens per example{estimated}: mean {tokens.mean:,.0f}, p95 {tokens.p95:,}, "
        f"max {tokens.max:,} · {tokens.total:,} tokens in the file, "
        f"{tokens.assistant_total:,} trained · {report.billed_tokens_per_epoch:,} billed per epoch"
    )
    return truncate(text, 2000)


def _fixed_file_offer(report: Report, dataset_short_id: str) -> Block:
    """A not-ready file whose fix was written: check the fix before anyone trains on it."""
    kept = f" ({plural(report.fixed_examples, 'example')} kept)" if report.fixed_examples else ""
    text = (
        f"A fixed file is attached: {plural(len(report.changes), 'change')}{kept}. "
        "Check it before training:"
    )
    return SectionBlock(
        text=MarkdownTextObject(text=text),
        accessory=ButtonElement(
            text="Validate fixed file",
            action_id=VALIDATE_FIXED_ACTION_ID,
            value=dataset_short_id,
        ),
    )


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


def _footer(report: Report, fixed_file: bool, dataset_short_id: str) -> str:
    parts = [f"Dataset `{dataset_short_id}` · full report attached as JSON."]
    if fixed_file and report.verdict != "not_ready":
        parts.append(
            f"Fixed file attached ({plural(len(report.changes), 'change')}); jobs train on it."
        )
    parts.append(f"Counted with {escape(report.encoding)} for `{escape(report.model)}`.")
    return " ".join(parts)
