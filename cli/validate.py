"""``tunebot validate FILE``: the validation report in the terminal, or as JSON.

Exit status: 0 ready (or warnings only), 1 not ready, 2 the file (or the
command line) could not be used at all.
"""

from __future__ import annotations

import functools
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from core.config import ValidationSettings, load_settings, load_validation_settings
from core.errors import ConfigError, TunebotError
from core.tokens.models import resolve_model
from core.tokens.worker_models import worker_model_root
from core.validation import Finding, Report, validate_file

SHOWN_PER_CODE = 5
"""Findings listed per code in text mode; the rest are counted ("and N more")."""
PROGRESS_MIN_BYTES = 4 * 1024 * 1024
_VERDICT_STYLE = {"ready": "bold green", "warnings": "bold yellow", "not_ready": "bold red"}


def register(app: typer.Typer) -> None:
    """Add ``validate`` to the ``tunebot`` command."""
    app.command("validate")(validate_command)


def validate_command(
    file: Annotated[Path, typer.Argument(help="Dataset: .jsonl, .json, .csv, .tsv or .xlsx.")],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Target model (default: TUNEBOT_DEFAULT_MODEL)."),
    ] = None,
    fix: Annotated[
        Path | None, typer.Option("--fix", help="Write a clean OpenAI chat JSONL here.")
    ] = None,
    split: Annotated[
        float | None,
        typer.Option("--split", help="Fraction of examples for OUT.valid.jsonl (needs --fix)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Processes for large JSONL files (default: all cores)."),
    ] = None,
) -> None:
    """Check a fine-tuning dataset: format, token counts, cost, and what to fix."""
    err = Console(stderr=True)
    settings = load_validation_settings()  # only what validation uses: no bot settings
    if model is not None:
        model = _worker_model(model, err)
    try:
        report = _run(
            file,
            settings=settings,
            model=model,
            fix=fix,
            split=split,
            seed=seed,
            workers=workers,
            show_progress=not as_json,
            console=err,
        )
    except TunebotError as exc:
        err.print(f"[red]{exc.user_message()}[/]")
        raise typer.Exit(2) from exc
    except OSError as exc:  # unreadable input; --fix OUT a folder, read-only, disk full...
        err.print(f"[red]Cannot use {exc.filename or 'the file'}: {exc.strerror}[/]")
        raise typer.Exit(2) from exc
    if as_json:
        sys.stdout.write(report.model_dump_json() + "\n")
    else:
        render(report, Console(), remaining=_still_wrong(report, settings=settings, model=model))
    raise typer.Exit(exit_code(report))


def _worker_model(name: str, console: Console) -> str:
    """``name`` as validation knows it: a worker's model name becomes its folder or hub id.

    Only a name tunebot does not know asks the worker (TUNEBOT_WORKER_URL), so
    validation needs no bot settings in the common case.
    """
    try:
        resolve_model(name)
        return name
    except ConfigError:
        pass
    settings = load_settings()
    if not settings.worker_url:
        return name  # validation's own message lists the known models
    key = settings.worker_api_key.get_secret_value() if settings.worker_api_key else None
    root = worker_model_root(name, url=settings.worker_url, api_key=key)
    if not Path(root).expanduser().is_dir():
        console.print(
            f"[dim]The worker's {name!r} is {root}, not a folder here: tokens are estimated "
            "unless TUNEBOT_HF_TOKENIZER points at its tokenizer.[/]"
        )
    return root


def _still_wrong(report: Report, *, settings: ValidationSettings, model: str | None) -> list[str]:
    """The error codes the fixed file still has: --fix repairs only some problems
    (it cannot add examples or write a missing answer), and must not look like it did."""
    if not report.fixed_path or not report.fixed_examples or report.verdict != "not_ready":
        return []
    try:
        fixed = validate_file(Path(report.fixed_path), settings=settings, model=model)
    except TunebotError:
        return []
    return sorted({finding.code for finding in fixed.errors})


def exit_code(report: Report) -> int:
    """0 ready/warnings, 1 not ready, 2 unreadable."""
    if not report.readable:
        return 2
    return 1 if report.verdict == "not_ready" else 0


def _run(
    file: Path,
    *,
    settings: ValidationSettings,
    model: str | None,
    fix: Path | None,
    split: float | None,
    seed: int,
    workers: int | None,
    show_progress: bool,
    console: Console,
) -> Report:
    run = functools.partial(
        validate_file,
        file,
        model=model,
        settings=settings,
        fix_path=fix,
        split=split,
        seed=seed,
        workers=workers,
    )
    big = file.is_file() and file.stat().st_size >= PROGRESS_MIN_BYTES
    if not (show_progress and big):
        return run()
    columns = (TextColumn("Validating"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    # auto_refresh=False: no refresh thread, so validation may fork its workers
    # (a forked child of a threaded process can inherit a held lock).
    with Progress(*columns, console=console, transient=True, auto_refresh=False) as bar:
        task = bar.add_task("validate", total=file.stat().st_size)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            bar.refresh()

        return run(progress=advance)


def render(report: Report, console: Console, *, remaining: Sequence[str] = ()) -> None:
    """The human-readable report: summary, tokens and cost, findings by code, changes.

    ``remaining``: error codes the fixed file still has (``--fix`` could not repair them).
    """
    style = _VERDICT_STYLE[report.verdict]
    console.print(f"[{style}]{report.verdict.upper().replace('_', ' ')}[/]  {report.file_name}")
    console.print(
        f"{report.examples:,} examples · format {report.format} · "
        f"{report.file_type} · model {report.model} ({report.encoding})"
    )
    if report.tokens.total:
        console.print(_token_table(report))
    for title, findings, colour in (
        ("Errors", report.errors, "red"),
        ("Warnings", report.warnings, "yellow"),
    ):
        if findings:
            console.print(f"\n[bold {colour}]{title}[/]")
            _print_findings(findings, report.finding_counts, console)
    for note in report.notes:
        console.print(f"[dim]Note: {note}[/]")
    _print_changes(report, console, remaining)


def _token_table(report: Report) -> Table:
    tokens = report.tokens
    table = Table(show_header=False, box=None, padding=(0, 2))
    approx = " (estimate)" if tokens.estimated else ""
    table.add_row("tokens", f"{tokens.total:,} total{approx}, {tokens.assistant_total:,} trained")
    table.add_row(
        "per example",
        f"min {tokens.min:,} · p50 {tokens.p50:,} · mean "
        f"{tokens.mean:,.0f} · p95 {tokens.p95:,} · max {tokens.max:,}",
    )
    table.add_row(
        "billing",
        f"{report.billed_tokens_per_epoch:,} tokens/epoch x "
        f"{report.epochs} epochs = {report.trained_tokens:,} trained tokens",
    )
    if report.estimated_cost_usd is not None:
        table.add_row(
            "est. cost",
            f"${report.estimated_cost_usd:,.2f} at "
            f"${report.price_per_1m}/1M (price read {report.price_read_on})",
        )
    else:
        table.add_row("est. cost", "unknown (no price for this model)")
    return table


def _print_findings(findings: list[Finding], counts: dict[str, int], console: Console) -> None:
    by_code: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_code[finding.code].append(finding)
    for code, group in by_code.items():
        total = counts.get(code, len(group))
        console.print(f"  [bold]{code}[/] ({total:,})")
        shown_fix = None
        for finding in group[:SHOWN_PER_CODE]:
            where = f"line {finding.line}: " if finding.line is not None else ""
            console.print(f"    {where}{finding.message}", markup=False, highlight=False)
            if finding.fix and finding.fix != shown_fix:  # said once while it repeats
                console.print(Text(f"      fix: {finding.fix}", style="dim"))
                shown_fix = finding.fix
        if total > SHOWN_PER_CODE:
            console.print(f"    ... and {total - SHOWN_PER_CODE:,} more")


def _print_changes(report: Report, console: Console, remaining: Sequence[str]) -> None:
    if report.fixed_path is None:
        return
    if not report.fixed_examples:
        console.print(
            f"\n[bold red]--fix could not repair this file[/]: every example has errors it "
            f"cannot fix, so {report.fixed_path} is empty. Fix the errors above by hand."
        )
        return
    kept = report.fixed_examples
    console.print(
        f"\n[bold]Fixed file[/]: {report.fixed_path} ({kept:,} example{'' if kept == 1 else 's'})"
    )
    if remaining:
        console.print(
            f"[bold red]It is still not ready[/]: --fix cannot repair {', '.join(remaining)}. "
            "Fix those by hand, then validate again."
        )
    if report.validation_path is not None:
        console.print(
            f"[bold]Validation split[/]: {report.validation_path} "
            f"({report.validation_examples:,} examples)"
        )
    by_code: dict[str, int] = defaultdict(int)
    for change in report.changes:
        by_code[change.code] += 1
    for change in report.changes[: SHOWN_PER_CODE * 2]:
        where = f"line {change.line}: " if change.line is not None else ""
        console.print(f"  {change.code}: {where}{change.message}", markup=False, highlight=False)
    if len(report.changes) > SHOWN_PER_CODE * 2:
        summary = ", ".join(f"{code} {n:,}" for code, n in by_code.items())
        console.print(f"  ... {len(report.changes):,} changes listed in --json ({summary})")
