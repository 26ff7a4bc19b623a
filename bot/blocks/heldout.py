"""Block Kit for the automatic held-out evaluation posted in a job's thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.ab import summary_lines
from bot.blocks.limits import MAX_FIELD_TEXT, MAX_SECTION_TEXT, truncate
from bot.blocks.mrkdwn import escape
from core.evaluation.heldout import HeldoutResult, ItemResult, ModelStats
from core.evaluation.judge import CHOICE_INVALID
from core.evaluation.stats import MIN_DECISIVE

PROMPT_CHARS = 160
ANSWER_CHARS = 220


def _md(text: str, limit: int = MAX_SECTION_TEXT) -> MarkdownTextObject:
    return MarkdownTextObject(text=truncate(text, limit))


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _model_field(label: str, stats: ModelStats, *, classification: bool) -> MarkdownTextObject:
    score = "–" if stats.exact_match is None else f"{stats.exact_match:.1%}"
    lines = [f"*{label}* `{escape(stats.model)}`"]
    if classification:
        lines.append(f"Accuracy: *{score}*")
    else:
        f1 = "–" if stats.mean_f1 is None else f"{stats.mean_f1:.3f}"
        lines.append(f"Exact match: *{score}* · token F1: *{f1}*")
    lines.append(
        f"Latency: {_seconds(stats.mean_latency_s)} mean, {_seconds(stats.median_latency_s)} median"
    )
    lines.append(f"Tokens: {stats.prompt_tokens:,} in / {stats.completion_tokens:,} out")
    if stats.failed:
        lines.append(f":warning: {stats.failed} prompt(s) not answered")
    return _md("\n".join(lines), MAX_FIELD_TEXT)


def _one_line(text: str | None, limit: int) -> str:
    """Dataset prompts and model answers, on one line and inert."""
    return escape(truncate(" ".join((text or "").split()), limit)) or "–"


def _worst_line(rank: int, item: ItemResult) -> str:
    judge = f" · judge: {escape(item.judge.outcome)}" if item.judge is not None else ""
    return (
        f"{rank}. _{_one_line(item.example.last_user_text, PROMPT_CHARS)}_\n"
        f"   fine-tuned: {_one_line(item.candidate.text, ANSWER_CHARS)}\n"
        f"   base: {_one_line(item.baseline.text, ANSWER_CHARS)}\n"
        f"   reference: {_one_line(item.example.reference, ANSWER_CHARS)}"
        f" · F1 {item.f1(item.candidate) or 0:.2f} vs {item.f1(item.baseline) or 0:.2f}{judge}"
    )


def unreadable_judgements(items: Sequence[ItemResult]) -> int:
    """Prompts where a judge call gave no usable answer (an error, or no A/B/tie in it).

    The statistics count them as ties (neither a win nor a loss); the report
    shows them apart so a broken judge does not pass for a close race.
    """
    return sum(
        1
        for item in items
        if item.judge is not None
        and any(c.error is not None or c.choice == CHOICE_INVALID for c in item.judge.calls)
    )


def build_heldout_report(
    result: HeldoutResult,
    *,
    job_short_id: str,
    judge_model: str | None,
    min_decisive: int = MIN_DECISIVE,
) -> dict[str, Any]:
    """Scores per model, the reference and judge comparisons, and the worst losses."""
    kind = "accuracy (the answers are labels)" if result.classification else "reference scores"
    head = (
        f":bar_chart: *Held-out evaluation of job `{job_short_id}`*: {len(result.items)} prompts "
        f"from the validation split, {kind}."
    )
    blocks: list[Block] = [SectionBlock(text=_md(head))]
    if len(result.items) < min_decisive:
        blocks.append(
            SectionBlock(
                text=_md(
                    f":warning: *Too few prompts for any verdict*: {len(result.items)} prompts can "
                    f"never give the {min_decisive} decisive comparisons a verdict needs. Read "
                    f"the scores below as anecdotes; a validation split of at least "
                    f"{min_decisive} examples gives a verdict."
                )
            )
        )
    blocks += [
        SectionBlock(
            fields=[
                _model_field("Fine-tuned", result.candidate, classification=result.classification),
                _model_field("Base", result.baseline, classification=result.classification),
            ]
        ),
        SectionBlock(
            text=_md(
                "*Closer to the dataset's answer, per prompt*\n"
                + "\n".join(
                    summary_lines(
                        result.reference, candidate="fine-tuned", opponent="base", both_bad=False
                    )
                )
            )
        ),
    ]
    if result.judge is not None:
        lines = summary_lines(result.judge, candidate="fine-tuned", opponent="base", both_bad=False)
        unreadable = unreadable_judgements(result.items)
        if unreadable:
            # The statistics count them as ties; the counts line shows them apart.
            t = result.judge.tally
            lines[1] = (
                f"fine-tuned wins *{t.wins}* · ties *{t.ties - unreadable}* · "
                f"losses *{t.losses}* · unreadable judge answers *{unreadable}* "
                "(neither a win nor a loss)"
            )
        blocks.append(
            SectionBlock(
                text=_md(
                    f"*LLM judge `{escape(judge_model or '')}`*, "
                    "asked in both orders (disagreement = tie)\n" + "\n".join(lines)
                )
            )
        )
    if result.worst:
        blocks.append(DividerBlock())
        body = "\n".join(_worst_line(rank, item) for rank, item in enumerate(result.worst, 1))
        blocks.append(SectionBlock(text=_md("*Where the fine-tuned model lost worst*\n" + body)))
    blocks.append(
        ContextBlock(
            elements=[
                _md(
                    "Same generation settings for both models (temperature 0). Prompts a model "
                    "failed to answer are left out of the comparisons."
                )
            ]
        )
    )
    text = f"Held-out evaluation of job {job_short_id}: {len(result.items)} prompts"
    return {"text": text, "blocks": [b.to_dict() for b in blocks]}


def build_heldout_failure(job_short_id: str, message: str) -> str:
    return (
        f":warning: The held-out evaluation of job `{job_short_id}` could not run: "
        f"{escape(message)}"
    )
