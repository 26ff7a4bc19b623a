"""Streaming the XML inside an ``.xlsx``: rows of the first sheet, one block at a time.

Why not calamine or pandas: both build the whole sheet in memory. A 20 MB
workbook under both zip-bomb caps took pandas to 774 MB, and calamine sizes its
grid from the cells' addresses, so a 1.4 KB workbook with one cell at XFD1048576
asks for 512 GB and aborts the process. Here expat reads the XML in 1 MB blocks:
only the rows of one block are held, cells are kept by column (a sparse row
costs its cells, not its width), and each cell is capped in size. Shared
strings (the table most text cells point into) are spilled to a temporary file
and read back by offset, so they cost 4 bytes each in memory.

A ``<!DOCTYPE`` is refused outright: a workbook never needs one, and it is how
entity-expansion and external-entity tricks start.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from collections.abc import Iterator
from typing import IO
from xml.parsers import expat

BLOCK_BYTES = 1 << 20
MAX_CELL_CHARS = 8 * 1024 * 1024
"""Longer than any training text; the same cap as a CSV cell."""
MAX_SHARED_STRINGS = 4_000_000
"""A million rows of four text columns; 16 MB of offsets."""
MAX_COLUMNS = 16_384
"""Excel's own limit (column XFD)."""


class SheetError(ValueError):
    """The XML is damaged, or uses a trick tunebot refuses; the message says which."""


def _parser() -> expat.XMLParserType:
    parser = expat.ParserCreate()
    parser.buffer_text = True

    def refuse_doctype(*_args: object) -> None:
        raise SheetError("the workbook's XML declares a DOCTYPE, which no real workbook needs")

    parser.StartDoctypeDeclHandler = refuse_doctype
    return parser


def _local(name: str) -> str:
    """Element name without its namespace prefix (``x:row`` -> ``row``)."""
    return name.rsplit(":", 1)[-1]


def _feed(parser: expat.XMLParserType, stream: IO[bytes]) -> Iterator[None]:
    """Feed ``stream`` to ``parser`` block by block, yielding after each block."""
    try:
        while block := stream.read(BLOCK_BYTES):
            parser.Parse(block, False)
            yield
        parser.Parse(b"", True)
        yield
    except expat.ExpatError as exc:
        raise SheetError(f"the workbook's XML is damaged ({exc})") from exc


class SharedStrings:
    """The shared-string table, on disk: index -> text by offset."""

    def __init__(self) -> None:
        # Closed by close(): the table lives as long as the rows that point into it.
        self._file = tempfile.TemporaryFile()  # noqa: SIM115
        self._ends = array("I")  # end offset of each string; uint32 as the XML is < 4 GB

    def __len__(self) -> int:
        return len(self._ends)

    def close(self) -> None:
        self._file.close()

    def load(self, stream: IO[bytes]) -> None:
        """Read ``sharedStrings.xml``: each ``<si>`` is the text of its ``<t>`` elements."""
        parser = _parser()
        state = {"in_t": False, "skip": 0}
        parts: list[str] = []
        size = 0
        written = 0

        def start(name: str, _attrs: dict[str, str]) -> None:
            nonlocal size
            tag = _local(name)
            if tag == "si":
                parts.clear()
                size = 0
            elif tag == "t" and not state["skip"]:
                state["in_t"] = True
            elif tag in ("rPh", "phoneticPr"):  # phonetic guides are not cell text
                state["skip"] += 1

        def end(name: str) -> None:
            nonlocal written
            tag = _local(name)
            if tag == "t":
                state["in_t"] = False
            elif tag in ("rPh", "phoneticPr"):
                state["skip"] -= 1
            elif tag == "si":
                if len(self._ends) >= MAX_SHARED_STRINGS:
                    raise SheetError(
                        f"the workbook has more than {MAX_SHARED_STRINGS:,} distinct texts"
                    )
                data = "".join(parts).encode("utf-8", "surrogatepass")
                self._file.write(data)
                written += len(data)
                self._ends.append(written)

        def text(data: str) -> None:
            nonlocal size
            if state["in_t"]:
                size += len(data)
                if size > MAX_CELL_CHARS:
                    raise SheetError(f"a text is longer than {MAX_CELL_CHARS:,} characters")
                parts.append(data)

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = text
        for _ in _feed(parser, stream):
            pass
        self._file.flush()

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < len(self._ends):
            raise SheetError(f"a cell points at shared text {index}, which does not exist")
        start = self._ends[index - 1] if index else 0
        size = self._ends[index] - start
        data = os.pread(self._file.fileno(), size, start)
        return data.decode("utf-8", "surrogatepass")


Row = tuple[int, dict[int, str]]
"""(Excel row number, column index -> cell text) for the non-empty cells."""


def _column(ref: str) -> int:
    """0-based column of a cell reference (``"AB12"`` -> 27); -1 when there is none."""
    index = 0
    for char in ref:
        if "A" <= char <= "Z":
            index = index * 26 + ord(char) - 64
        else:
            break
    return index - 1


def _number(text: str) -> str:
    """A number cell as it reads: ``1`` not ``1.0``, other values as written."""
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else text


def iter_rows(stream: IO[bytes], shared: SharedStrings) -> Iterator[Row]:
    """The rows of one worksheet's XML, in order, as they stream.

    Raises:
        SheetError: damaged XML, a DOCTYPE, a cell over :data:`MAX_CELL_CHARS`, or a
            reference to shared text that does not exist.
    """
    parser = _parser()
    done: list[Row] = []
    row: dict[int, str] = {}
    parts: list[str] = []
    # Plain locals, not a state object: these handlers run millions of times.
    row_number = 0
    col = -1
    kind = ""
    collect = False
    size = 0
    skip = 0

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal row_number, col, kind, collect, size, skip
        tag = name if ":" not in name else _local(name)
        if tag == "c":
            ref = attrs.get("r", "")
            col = _column(ref) if ref else col + 1
            if not 0 <= col < MAX_COLUMNS:
                raise SheetError(f"cell {ref[:20]!r} is beyond Excel's last column")
            kind = attrs.get("t", "n")
            size = 0
            parts.clear()
        elif tag == "row":
            number = attrs.get("r", "")
            row_number = int(number) if number.isdigit() else row_number + 1
            col = -1
            row.clear()
        elif (tag == "v" or tag == "t") and not skip:
            collect = True
        elif tag == "rPh":  # a phonetic guide is not cell text
            skip += 1

    def end(name: str) -> None:
        nonlocal collect, skip
        tag = name if ":" not in name else _local(name)
        if tag == "v" or tag == "t":
            collect = False
        elif tag == "c":
            value = _cell("".join(parts), kind, shared) if parts else ""
            if value:
                row[col] = value
        elif tag == "row" and row:
            done.append((row_number, dict(row)))
        elif tag == "rPh":
            skip -= 1

    def text(data: str) -> None:
        nonlocal size
        if collect:
            size += len(data)
            if size > MAX_CELL_CHARS:
                raise SheetError(
                    f"a cell in row {row_number} is longer than {MAX_CELL_CHARS:,} characters"
                )
            parts.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    for _ in _feed(parser, stream):
        yield from done
        done.clear()


def workbook_sheets(stream: IO[bytes], rels: IO[bytes] | None) -> list[tuple[str, str | None]]:
    """(name, part path inside the zip) of each sheet, in workbook order.

    The path is ``None`` when the relationships do not say where a sheet is.
    """
    sheets: list[tuple[str, str]] = []
    targets: dict[str, str] = {}

    def sheet(name: str, attrs: dict[str, str]) -> None:
        if _local(name) == "sheet":
            rel = next((v for k, v in attrs.items() if _local(k) == "id"), "")
            sheets.append((attrs.get("name", "?"), rel))

    def relationship(name: str, attrs: dict[str, str]) -> None:
        if _local(name) == "Relationship":
            targets[attrs.get("Id", "")] = attrs.get("Target", "")

    for source, handler in ((stream, sheet), (rels, relationship)):
        if source is None:
            continue
        parser = _parser()
        parser.StartElementHandler = handler
        for _ in _feed(parser, source):
            if len(sheets) > 10_000:
                raise SheetError("the workbook lists more than 10,000 sheets")
    return [(name, _part_path(targets.get(rel))) for name, rel in sheets]


def _part_path(target: str | None) -> str | None:
    if not target:
        return None
    if target.startswith("/"):
        return target.lstrip("/")
    parts: list[str] = ["xl"]
    for piece in target.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


def _cell(raw: str, kind: str, shared: SharedStrings) -> str:
    if kind == "s":
        if not raw.strip().isdigit():
            return ""
        return shared[int(raw)]
    if kind == "b":
        return "TRUE" if raw.strip() == "1" else "FALSE" if raw.strip() == "0" else raw
    if kind in ("n", "d") and raw:
        return _number(raw.strip()) if kind == "n" else raw
    return raw  # inlineStr, str (a formula's text result), e (#N/A...)
