"""Builders for small datasets: good examples, files with one bad line, findings lookup."""

from __future__ import annotations

import json
from pathlib import Path

from core.config import Settings
from core.validation import Finding, Report, validate_file

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def chat(
    user: str = "Where is my parcel?",
    assistant: str = "It arrives Friday.",
    system: str | None = "You are a support assistant.",
) -> dict[str, object]:
    """One valid chat example."""
    messages: list[dict[str, object]] = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": messages}


def good_rows(count: int, *, start: int = 0) -> list[dict[str, object]]:
    """``count`` distinct valid chat examples."""
    return [
        chat(f"Question number {i}?", f"Answer number {i}.") for i in range(start, start + count)
    ]


def write_jsonl(path: Path, rows: list[object]) -> Path:
    """Rows that are ``str``/``bytes`` are written as the raw line; others as JSON."""
    with path.open("wb") as out:
        for row in rows:
            if isinstance(row, bytes):
                out.write(row + b"\n")
            elif isinstance(row, str):
                out.write(row.encode() + b"\n")
            else:
                out.write(json.dumps(row).encode() + b"\n")
    return path


def run(path: Path, **options: object) -> Report:
    """validate_file with settings that ignore the environment's defaults."""
    options.setdefault("settings", Settings())
    return validate_file(path, **options)  # type: ignore[arg-type]


def findings(report: Report, code: str) -> list[Finding]:
    return [f for f in report.errors + report.warnings if f.code == code]


def codes(report: Report) -> set[str]:
    return {f.code for f in report.errors + report.warnings}
