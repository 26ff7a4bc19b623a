"""Findings as they accumulate: counted per code, stored up to a cap per code.

A file with an error on every one of a million lines must not hold a million
findings in memory (or in a Slack message): every finding is counted, and the
first :data:`MAX_STORED_PER_CODE` of each code are kept with their positions.
"""

from __future__ import annotations

from collections import Counter

from core.validation.codes import severity
from core.validation.report import Finding

MAX_STORED_PER_CODE = 10_000


class FindingLog:
    """Per-code counts and the first findings of each code, in file order."""

    def __init__(self, *, cap: int = MAX_STORED_PER_CODE) -> None:
        self.cap = cap
        self.counts: Counter[str] = Counter()
        self._kept: list[tuple[str, str, str | None, int | None, int | None]] = []

    def add(
        self,
        code: str,
        message: str,
        fix: str | None = None,
        *,
        line: int | None = None,
        example: int | None = None,
    ) -> None:
        self.counts[code] += 1
        if self.counts[code] <= self.cap:
            self._kept.append((code, message, fix, line, example))

    def count(self, code: str, more: int) -> None:
        """Count ``more`` findings of ``code`` that are not listed (beyond the cap)."""
        self.counts[code] += more

    def truncated(self) -> dict[str, int]:
        """Codes whose findings were not all kept, with how many were dropped."""
        return {code: n - self.cap for code, n in self.counts.items() if n > self.cap}

    def build(self) -> tuple[list[Finding], list[Finding]]:
        """(errors, warnings) as report findings, ordered by line then code."""
        errors: list[Finding] = []
        warnings: list[Finding] = []
        ordered = sorted(self._kept, key=lambda f: (f[3] if f[3] is not None else 0, f[0]))
        for code, message, fix, line, example in ordered:
            level = severity(code)
            finding = Finding(
                code=code, severity=level, message=message, line=line, example=example, fix=fix
            )
            (errors if level == "error" else warnings).append(finding)
        return errors, warnings
