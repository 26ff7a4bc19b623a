"""What the readers hand to the checks: one record per example, positions kept."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import DatasetError


@dataclass(frozen=True, slots=True)
class ReadProblem:
    """Why one example could not be read (the rest of the file still is).

    ``code`` is a finding code from :mod:`core.validation.codes`.
    """

    code: str
    message: str
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """One example as read, before any check.

    ``line`` is the 1-based JSONL line, JSON line, or CSV/TSV/XLSX row;
    ``data`` is the decoded value (``None`` when ``problem`` is set).
    ``notes`` carries per-row reading warnings (for example a formula cell).
    """

    line: int
    data: object
    problem: ReadProblem | None = None
    notes: tuple[ReadProblem, ...] = ()


class LocatedDatasetError(DatasetError):
    """A file-level reading failure that happened at a known line (or CSV row)."""

    def __init__(self, message: str, *, code: str, line: int, hint: str | None = None) -> None:
        super().__init__(message, code=code, hint=hint)
        self.line = line
