"""Map spreadsheet and CSV columns onto examples.

Three layouts are understood: ``prompt``/``completion``; ``system``/``user``/
``assistant`` (one turn per row); or one ``messages`` column holding the chat as
JSON. Names match case-insensitively (with a warning, since the fixed file and
OpenAI use the lower-case names).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from core.datasets import strict_json
from core.datasets.records import LocatedDatasetError, ReadProblem, Record

Layout = Literal["prompt_completion", "roles", "messages"]

_LAYOUTS: tuple[tuple[Layout, tuple[str, ...], tuple[str, ...]], ...] = (
    # layout, required columns, optional columns
    ("messages", ("messages",), ()),
    ("roles", ("user", "assistant"), ("system",)),
    ("prompt_completion", ("prompt", "completion"), ()),
)
# A cell a spreadsheet would run: =, @, or +/- followed by a name, number or '('.
_FORMULA = re.compile(r"^\s*(?:[=@]|[+-][\w(])")


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Which column holds which field; ``columns`` maps field -> column index."""

    layout: Layout
    columns: dict[str, int]
    case_mismatches: tuple[str, ...]
    unused: tuple[str, ...]

    def warnings(self) -> list[ReadProblem]:
        """File-level notes about the header, for the report."""
        notes = []
        if self.case_mismatches:
            names = ", ".join(repr(name) for name in self.case_mismatches)
            notes.append(
                ReadProblem(
                    "column_name_case",
                    f"Column names {names} were matched ignoring case and spaces.",
                    "Name the columns exactly " + ", ".join(self.columns) + ".",
                )
            )
        if self.unused:
            notes.append(
                ReadProblem(
                    "unused_column",
                    "Columns ignored: " + ", ".join(repr(name) for name in self.unused) + ".",
                    None,
                )
            )
        return notes


def map_columns(header: Sequence[object], *, line: int = 1) -> ColumnMapping:
    """Find the layout the header row (on ``line``) describes.

    Raises:
        LocatedDatasetError: ``unknown_columns`` when no layout's columns are present.
    """
    names = ["" if cell is None else str(cell) for cell in header]
    folded = {name.strip().lower(): index for index, name in reversed(list(enumerate(names)))}
    for layout, required, optional in _LAYOUTS:
        if all(column in folded for column in required):
            wanted = [c for c in required + optional if c in folded]
            columns = {column: folded[column] for column in wanted}
            mismatched = tuple(names[i] for i in columns.values() if names[i] not in columns)
            used = set(columns.values())
            unused = tuple(n for i, n in enumerate(names) if i not in used and n.strip())
            return ColumnMapping(layout, columns, mismatched, unused)
    shown = ", ".join(repr(name) for name in names[:10]) or "(none)"
    raise LocatedDatasetError(
        f"The header row has no columns tunebot knows: {shown}.",
        code="unknown_columns",
        line=line,
        hint="Name the columns prompt/completion, or system/user/assistant, or put the chat "
        "as JSON in a column named messages. The first row must be the header.",
    )


def cell_text(value: object) -> str:
    """A cell as text: numbers without a spurious '.0', empty cells as ''."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def row_to_record(row: Sequence[object], mapping: ColumnMapping, *, line: int) -> Record:
    """Build the example one row describes (cells beyond the row count as empty)."""
    cells = {
        field: cell_text(row[index]) if index < len(row) else ""
        for field, index in mapping.columns.items()
    }
    notes = tuple(
        ReadProblem(
            "formula_cell",
            f"The {field} cell starts like a spreadsheet formula ({text[:40]!r}); "
            "it is kept as text and never evaluated.",
            "The fixed JSONL escapes it so no spreadsheet runs it; remove it if it is not "
            "meant to be training text.",
        )
        for field, text in cells.items()
        if _FORMULA.match(text)
    )
    if mapping.layout == "prompt_completion":
        return Record(
            line, {"prompt": cells["prompt"], "completion": cells["completion"]}, None, notes
        )
    if mapping.layout == "roles":
        messages = [{"role": "system", "content": cells["system"]}] if cells.get("system") else []
        messages.append({"role": "user", "content": cells["user"]})
        messages.append({"role": "assistant", "content": cells["assistant"]})
        return Record(line, {"messages": messages}, None, notes)
    return _messages_cell(cells["messages"], line=line, notes=notes)


def _messages_cell(text: str, *, line: int, notes: tuple[ReadProblem, ...]) -> Record:
    try:
        value = strict_json.loads(text)
    except strict_json.RefusedJSON as exc:
        return Record(line, None, ReadProblem(exc.code, f"The messages cell: {exc}.", None), notes)
    except (ValueError, RecursionError) as exc:
        problem = ReadProblem(
            "invalid_json",
            f"The messages cell is not JSON ({exc}).",
            'Put the chat as a JSON list: [{"role": "user", "content": "..."}, ...].',
        )
        return Record(line, None, problem, notes)
    if isinstance(value, dict) and "messages" in value:
        return Record(line, value, None, notes)
    return Record(line, {"messages": value}, None, notes)
