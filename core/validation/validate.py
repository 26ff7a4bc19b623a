"""``validate_file``: the one entry point the CLI, the Slack bot and the worker call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.config import ValidationSettings
from core.datasets.reader import OpenedDataset, open_dataset
from core.datasets.sniff import FileType
from core.errors import ConfigError, DatasetError
from core.tokens import resolve_model
from core.validation.assemble import assemble_report, unreadable_report
from core.validation.codes import CODES
from core.validation.context import CheckContext, Target
from core.validation.file_checks import MIN_EXAMPLES, check_file
from core.validation.findings import FindingLog
from core.validation.fixer import FixResult, validation_path_for, write_fixed
from core.validation.outcome import Outcome
from core.validation.report import Report
from core.validation.runner import pool_size, run_jsonl, run_records
from core.validation.tally import Tally

ERROR_CODES = frozenset(code for code, (level, _) in CODES.items() if level == "error")


def validate_file(
    path: Path,
    *,
    settings: ValidationSettings,
    model: str | None = None,
    fix_path: Path | None = None,
    split: float | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    max_tokens: int | None = None,
) -> Report:
    """Validate a dataset file and, when asked, write its fixed JSONL and split.

    Every input file gets a report: a file that cannot be read at all gets
    ``readable=False`` and verdict ``not_ready``.

    Parameters:
        path: the dataset (JSONL, JSON, CSV, TSV or XLSX).
        model: target model id or alias; default ``settings.default_model``.
        settings: tunebot settings, loaded once by the entry point (default model,
            price overrides, tokenizer path, size limit).
        fix_path: where to write the clean chat JSONL (``--fix``).
        split: fraction of kept examples written to ``<fix_path stem>.valid.jsonl``;
            needs ``fix_path``.
        seed: seed of the split, so the same seed gives the same split.
        progress: called with (bytes done, bytes total) as a JSONL file is read.
        workers: processes to check with (default: all cores for large JSONL).
        max_tokens: per-example limit to check and bill against instead of the
            model's (the worker passes the job's ``max_seq_length``, past which
            it would truncate).

    Raises:
        ConfigError: unknown ``model``; ``split`` outside (0, 1) or without ``fix_path``;
            ``fix_path`` (or its ``.valid`` file) naming the input file;
            an unreadable model tokenizer folder or ``settings.hf_tokenizer_path``
            (used for open models).
    """
    spec = resolve_model(model or settings.default_model, price_overrides=settings.price_overrides)
    if max_tokens is not None:
        spec = replace(spec, max_tokens=max_tokens)
    target = Target.for_spec(spec, settings.hf_tokenizer_path)
    if target.uses_hf_tokenizer:
        CheckContext.for_target(target)  # an unreadable tokenizer fails here, not in a worker
    path = Path(path)
    _check_outputs(path, fix_path, split)
    try:
        size = _checked_size(path, settings)
        opened = open_dataset(path)
    except DatasetError as error:
        return unreadable_report(path, error, spec=spec)
    tally = _check_examples(path, opened, target, size=size, workers=workers, progress=progress)
    log = tally.log
    first_of = check_file(tally, log, spec=spec)
    fixed = None
    if fix_path is not None:
        fixed = _fix(
            path, opened.file_type, tally, first_of, fix_path=fix_path, split=split, seed=seed
        )
    return assemble_report(
        path, opened.file_type.value, tally, log, target=target, size=size, fixed=fixed
    )


def _check_examples(
    path: Path,
    opened: OpenedDataset,
    target: Target,
    *,
    size: int,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
) -> Tally:
    """Run the per-example checks over the whole file and fold them into a tally."""
    log = FindingLog()
    tally = Tally(log)
    for note in opened.notes:
        log.add(note.code, note.message, note.fix)
    if opened.records is None:
        jobs = pool_size(size, workers=workers)
        outcomes, stats = run_jsonl(path, target, workers=jobs, progress=progress)
        _fold(outcomes, tally)
        _reader_notes(log, bom=stats.bom, blank_lines=stats.blank_lines)
    else:
        _fold(run_records(opened.records, target), tally)
    return tally


def _check_outputs(path: Path, fix_path: Path | None, split: float | None) -> None:
    """Refuse option combinations that cannot work, or would overwrite the input."""
    if fix_path is not None:
        outputs = {Path(fix_path).resolve()}
        if split:
            outputs.add(validation_path_for(Path(fix_path)).resolve())
        if path.resolve() in outputs:
            raise ConfigError(
                f"--fix {fix_path} would overwrite the file being validated.",
                hint="Write the fixed file under another name.",
            )
    if split is None:
        return
    if not 0 < split < 1:
        raise ConfigError(f"--split {split} is not a fraction.", hint="Use e.g. --split 0.1.")
    if fix_path is None:
        raise ConfigError("--split needs --fix OUT.jsonl.", hint="Add --fix OUT.jsonl.")


def _checked_size(path: Path, settings: ValidationSettings) -> int:
    if not path.is_file():
        raise DatasetError(
            f"There is no file at {path}.", code="file_not_found", hint="Check the path."
        )
    size = path.stat().st_size
    if size > settings.max_file_bytes:
        raise DatasetError(
            f"The file is {size / 1_048_576:,.0f} MB; the limit is "
            f"{settings.max_file_bytes / 1_048_576:,.0f} MB (OpenAI accepts up to 512 MB).",
            code="file_too_large",
            hint="Split it into smaller files, or raise TUNEBOT_MAX_FILE_BYTES for the worker.",
        )
    return size


def _fold(outcomes: Iterator[Outcome], tally: Tally) -> None:
    for outcome in outcomes:
        tally.add(outcome, error_codes=ERROR_CODES)


def _reader_notes(log: FindingLog, *, bom: bool, blank_lines: int) -> None:
    if bom:
        log.add(
            "utf8_bom",
            "The file starts with a UTF-8 byte-order mark.",
            "--fix writes the file without it.",
            line=1,
        )
    if blank_lines:
        log.add(
            "blank_lines",
            f"{blank_lines:,} blank line(s) were skipped.",
            "--fix writes the file without them.",
        )


def _fix(
    path: Path,
    file_type: FileType,
    tally: Tally,
    first_of: npt.NDArray[np.int32],
    *,
    fix_path: Path,
    split: float | None,
    seed: int,
) -> FixResult:
    bad = np.frombuffer(tally.bad, dtype=np.uint8) if tally.bad else np.zeros(0, np.uint8)
    dropped = bad.astype(bool) | (first_of >= 0)
    kept = int(len(dropped) - dropped.sum())
    lines = tally.lines
    limit = tally.max_examples

    def reason(index: int) -> str | None:
        if index >= limit:
            return f"Dropped: beyond the first {limit:,} examples tunebot checks."
        if bad[index]:
            return "Dropped: the example has errors (see the findings for this line)."
        first = int(first_of[index])
        return f"Dropped: repeats the example on line {lines[first]}." if first >= 0 else None

    result = write_fixed(
        path, file_type, out=fix_path, drop=reason, kept=kept, split=split, seed=seed
    )
    if result.written < MIN_EXAMPLES:
        tally.log.add(
            "too_few_after_fix",
            f"The fixed file holds {result.written} training example(s) after dropping "
            f"{tally.examples - kept:,} and holding out {result.validation_written}; "
            f"OpenAI requires at least {MIN_EXAMPLES}.",
            "Add examples, fix the dropped ones, or use a smaller --split.",
        )
    return result


__all__ = ["validate_file"]
