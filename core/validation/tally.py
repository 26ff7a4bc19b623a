"""Everything the report needs, accumulated one example at a time.

Per example only 4 (tokens) + 4 (line) + 16 (fingerprint) bytes are kept, in
compact arrays, so memory grows by ~24 bytes per example whatever the file
size; percentiles and duplicates are computed from those arrays at the end.
"""

from __future__ import annotations

from array import array
from collections import Counter

import numpy as np
import numpy.typing as npt

from core.validation.findings import FindingLog
from core.validation.outcome import Outcome

_NO_DIGEST = bytes(16)


class Tally:
    """Running totals over the outcomes of every example, in file order."""

    def __init__(self, log: FindingLog) -> None:
        self.log = log
        self.examples = 0
        self.formats: Counter[str] = Counter()
        self.first_line: dict[str, int] = {}
        self.tokens = array("i")
        self.lines = array("i")
        self.digests = bytearray()
        self.trained = 0
        self.estimated = False
        self.no_system = 0
        self.no_system_first: int | None = None
        self.legacy_state = LegacyState()
        self.bad_examples = array("i")  # indices of examples with an error

    def add(self, outcome: Outcome, *, error_codes: frozenset[str]) -> None:
        """Fold one example's outcome in; ``error_codes`` tells errors from warnings."""
        index = self.examples
        self.examples += 1
        self.formats[outcome.format] += 1
        self.first_line.setdefault(outcome.format, outcome.line)
        self.lines.append(outcome.line)
        self.digests += outcome.digest or _NO_DIGEST
        self.tokens.append(outcome.tokens)
        if outcome.tokens >= 0:
            self.trained += outcome.trained
            self.estimated = self.estimated or outcome.estimated
        if not outcome.has_system:
            self.no_system += 1
            if self.no_system_first is None:
                self.no_system_first = outcome.line
        if outcome.legacy is not None:
            self.legacy_state.add(*outcome.legacy)
        bad = False
        for code, message, fix in outcome.problems:
            self.log.add(code, message, fix, line=outcome.line, example=index)
            bad = bad or code in error_codes
        if bad:
            self.bad_examples.append(index)

    def counted_tokens(self) -> npt.NDArray[np.int32]:
        """Token counts of the examples that could be counted."""
        values = (
            np.frombuffer(self.tokens, dtype=np.int32) if self.tokens else np.zeros(0, np.int32)
        )
        return values[values >= 0]

    def duplicates(self) -> list[tuple[int, int]]:
        """(example, first example it repeats) for every repeat, in file order."""
        if self.examples < 2:
            return []
        keys = np.frombuffer(self.digests, dtype="S16")  # a view: no copy
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        starts = np.empty(len(ordered), dtype=bool)
        starts[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
        group = np.cumsum(starts) - 1
        firsts = order[starts]
        repeat = ~starts & (ordered != np.bytes_(b""))  # unreadable lines have no digest
        pairs = sorted(zip(order[repeat].tolist(), firsts[group[repeat]].tolist(), strict=True))
        return pairs


class LegacyState:
    """What OpenAI's old ``prepare_data`` tool checked across all prompt/completion pairs."""

    def __init__(self) -> None:
        self.count = 0
        self.prompt_suffix: str | None = None
        self.completion_suffix: str | None = None
        self.no_leading_space = 0

    def add(self, prompt_tail: str, completion_tail: str, completion_head: str) -> None:
        self.count += 1
        self.prompt_suffix = _common_suffix(self.prompt_suffix, prompt_tail)
        self.completion_suffix = _common_suffix(self.completion_suffix, completion_tail)
        if not completion_head.isspace():
            self.no_leading_space += 1


def _common_suffix(current: str | None, text: str) -> str:
    if current is None:
        return text
    size = 0
    limit = min(len(current), len(text))
    while size < limit and current[-1 - size] == text[-1 - size]:
        size += 1
    return current[len(current) - size :] if size else ""
