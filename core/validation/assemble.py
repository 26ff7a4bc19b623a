"""Turn the tallies into the :class:`Report` everyone reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.datasets.formats import file_format
from core.datasets.records import LocatedDatasetError
from core.errors import DatasetError
from core.tokens import ModelSpec, estimate_billing
from core.validation.codes import severity
from core.validation.context import Target
from core.validation.findings import MAX_STORED_PER_CODE, FindingLog
from core.validation.fixer import FixResult
from core.validation.report import Finding, Report, TokenStats, Verdict
from core.validation.tally import Tally

ESTIMATE_NOTE = (
    "Token counts of tool definitions, tool calls, images or preference pairs are estimates: "
    "OpenAI does not document how it renders them."
)


def unreadable_report(path: Path, error: DatasetError, *, spec: ModelSpec) -> Report:
    """The report for a file that could not be read at all (CLI exit 2).

    An empty file is readable (it simply holds no examples), so it exits 1.
    """
    line = error.line if isinstance(error, LocatedDatasetError) else None
    if error.code in ("not_utf8", "binary_file", "unsupported_file_type"):
        line = 1  # detected from the name and first bytes of the file
    finding = Finding(
        code=error.code,
        severity=severity(error.code),
        message=error.message,
        fix=error.hint,
        line=line,
    )
    size = path.stat().st_size if path.is_file() else 0
    return Report(
        file_name=path.name,
        file_type=path.suffix.lstrip(".").lower() or "unknown",
        verdict="not_ready",
        format="unknown",
        examples=0,
        errors=[finding],
        model=spec.id,
        encoding=spec.encoding,
        readable=error.code == "empty_file",
        file_size_bytes=size,
        finding_counts={error.code: 1},
        price_per_1m=spec.price_per_1m,
        price_read_on=spec.price_read_on,
    )


def token_stats(tally: Tally) -> TokenStats:
    values = tally.counted_tokens()
    if not len(values):
        return TokenStats(estimated=tally.estimated)
    return TokenStats(
        total=int(values.sum(dtype=np.int64)),
        min=int(values.min()),
        max=int(values.max()),
        mean=round(float(values.mean()), 1),
        p50=int(np.percentile(values, 50)),
        p95=int(np.percentile(values, 95)),
        assistant_total=tally.trained,
        estimated=tally.estimated,
    )


def assemble_report(
    path: Path,
    file_type: str,
    tally: Tally,
    log: FindingLog,
    *,
    target: Target,
    size: int,
    fixed: FixResult | None,
) -> Report:
    """Everything validation learned, with the verdict and the bill."""
    spec = target.spec
    errors, warnings = log.build()
    verdict: Verdict = "not_ready" if errors else "warnings" if warnings else "ready"
    report = Report(
        file_name=path.name,
        file_type=file_type,
        verdict=verdict,
        format=file_format(tally.formats),
        examples=tally.examples,
        errors=errors,
        warnings=warnings,
        tokens=token_stats(tally),
        model=spec.id,
        encoding=_encoding_label(target),
        file_size_bytes=size,
        finding_counts=dict(log.counts),
        format_counts=dict(tally.formats),
        price_per_1m=spec.price_per_1m,
        price_read_on=spec.price_read_on,
        notes=_notes(tally, log, target=target),
    )
    counted = tally.counted_tokens()
    if len(counted):
        bill = estimate_billing(map(int, counted), spec=spec, n_examples=len(counted))
        report.billed_tokens_per_epoch = bill.billed_tokens_per_epoch
        report.epochs = bill.epochs
        report.trained_tokens = bill.trained_tokens
        report.estimated_cost_usd = bill.cost_usd
    if fixed is not None:
        report.changes = fixed.changes
        report.fixed_examples = fixed.written
        report.fixed_path = str(fixed.train_path)
        if fixed.validation_path is not None:
            report.validation_path = str(fixed.validation_path)
            report.validation_examples = fixed.validation_written
    return report


def _encoding_label(target: Target) -> str:
    """``o200k_base``, or ``hf:<folder>`` when the model's own tokenizer counted."""
    if target.uses_hf_tokenizer and target.tokenizer_path is not None:
        return f"hf:{target.tokenizer_path.name}"
    return target.spec.encoding


def _notes(tally: Tally, log: FindingLog, *, target: Target) -> list[str]:
    spec = target.spec
    notes = []
    if tally.estimated:
        notes.append(ESTIMATE_NOTE)
    if target.uses_hf_tokenizer:
        notes.append(f"Tokens counted with the local tokenizer at {target.tokenizer_path}.")
    elif spec.provider == "open":
        notes.append(
            f"{spec.id} is an open model: token counts use {spec.encoding} as an "
            "estimate of its own tokenizer."
        )
    if not spec.fine_tunable:
        notes.append(f"{spec.id} can no longer be fine-tuned; pick another target model.")
    if spec.price_per_1m is None:
        notes.append(f"No training price is known for {spec.id}; cost is not estimated.")
    dropped = log.truncated()
    if dropped:
        shown = ", ".join(f"{code} ({n:,} more)" for code, n in sorted(dropped.items()))
        notes.append(
            f"Only the first {MAX_STORED_PER_CODE:,} findings per code are listed: "
            f"{shown}; finding_counts has every total."
        )
    return notes
