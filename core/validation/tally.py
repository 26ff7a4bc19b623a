"""Everything the report needs, accumulated one example at a time.

Per example only 4 (tokens) + 4 (line) + 8 (fingerprint) + 1 (has an error)
bytes are kept, in compact arrays, so 5 million examples cost ~85 MB whatever
they hold; percentiles and duplicates are computed from those arrays at the
end. Past :data:`MAX_EXAMPLES` examples are still checked and counted, but
nothing more is kept per example, so no file can grow these arrays further.
"""

from __future__ import annotations

from array import array
from collections import Counter

import numpy as np
import numpy.typing as npt

from core.datasets.limits import MAX_EXAMPLES
from core.validation.findings import FindingLog
from core.validation.fingerprint import NO_FINGERPRINT
from core.validation.outcome import Outcome

_BUCKETS = 16
"""Repeats are found bucket by bucket (by fingerprint bits), so the sort's
temporary arrays are a sixteenth of the file's."""


class Tally:
    """Running totals over the outcomes of every example, in file order."""

    def __init__(self, log: FindingLog, *, max_examples: int = MAX_EXAMPLES) -> None:
        self.log = log
        self.max_examples = max_examples
        self.examples = 0
        self.formats: Counter[str] = Counter()
        self.first_line: dict[str, int] = {}
        self.tokens = array("i")
        self.lines = array("i")
        self.digests = bytearray()
        self.bad = bytearray()  # 1 where the example has an error
        self.trained = 0
        self.estimated = False
        self.no_system = 0
        self.no_system_first: int | None = None
        self.legacy_state = LegacyState()
        self.first_unkept_line: int | None = None

    @property
    def kept(self) -> int:
        """Examples whose per-example facts are kept (all but those past the cap)."""
        return len(self.bad)

    def add(self, outcome: Outcome, *, error_codes: frozenset[str]) -> None:
        """Fold one example's outcome in; ``error_codes`` tells errors from warnings."""
        index = self.examples
        self.examples += 1
        self.formats[outcome.format] += 1
        self.first_line.setdefault(outcome.format, outcome.line)
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
        if index >= self.max_examples:
            if self.first_unkept_line is None:
                self.first_unkept_line = outcome.line
            return
        self.lines.append(outcome.line)
        self.tokens.append(outcome.tokens)
        self.digests += outcome.digest if outcome.digest and not bad else NO_FINGERPRINT
        self.bad.append(bad)

    def counted_tokens(self) -> npt.NDArray[np.int32]:
        """Token counts of the examples that could be counted."""
        values = (
            np.frombuffer(self.tokens, dtype=np.int32) if self.tokens else np.zeros(0, np.int32)
        )
        return values[values >= 0]

    def repeats(self) -> npt.NDArray[np.int32]:
        """Per kept example: the index of the first example it repeats, or -1."""
        count = len(self.digests) // 8
        first_of = np.full(count, -1, dtype=np.int32)
        if count < 2:
            return first_of
        keys = np.frombuffer(self.digests, dtype=np.uint64)
        bucket_of = np.frombuffer(self.digests, dtype=np.uint8)[::8] % _BUCKETS
        for bucket in range(_BUCKETS):
            members = np.flatnonzero(bucket_of == bucket).astype(np.int32)
            if len(members) > 1:
                _mark_repeats(keys[members], members, first_of)
        return first_of


def _mark_repeats(
    keys: npt.NDArray[np.uint64], members: npt.NDArray[np.int32], first_of: npt.NDArray[np.int32]
) -> None:
    """Set ``first_of`` for every repeat among ``members`` (indices in file order)."""
    order = np.argsort(keys, kind="stable")  # stable: the first of equal keys comes first
    ordered = keys[order]
    members = members[order]
    same = ordered[1:] == ordered[:-1]
    same &= ordered[1:] != 0  # 0: no fingerprint (an error or an unreadable line)
    if not same.any():
        return
    starts = np.arange(len(ordered), dtype=np.int32)
    starts[1:][same] = 0
    np.maximum.accumulate(starts, out=starts)  # each position -> where its group starts
    repeat = np.flatnonzero(same) + 1
    first_of[members[repeat]] = members[starts[repeat]]


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
