"""Everything the report needs, accumulated one example at a time.

Per example only 4 (tokens) + 4 (line) + 8 (fingerprint) + 1 (has an error)
bytes are kept, in compact arrays, so 5 million examples cost ~85 MB whatever
they hold; percentiles and duplicates are computed from those arrays at the
end. Past :data:`MAX_EXAMPLES` examples are still checked and counted, but
nothing more is kept per example, so no file can grow these arrays further.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import Counter

import numpy as np
import numpy.typing as npt

from core.datasets.limits import MAX_EXAMPLES
from core.validation.findings import FindingLog
from core.validation.fingerprint import NO_FINGERPRINT
from core.validation.outcome import Outcome


class Tally:
    """Running totals over the outcomes of every example, in file order."""

    def __init__(self, log: FindingLog, *, max_examples: int = MAX_EXAMPLES) -> None:
        self.log = log
        self.max_examples = max_examples
        self.examples = 0
        self.formats: Counter[str] = Counter()
        self.first_line: dict[str, int] = {}
        self.tokens = array("i")
        self.lines = LineIndex()
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
        """Per kept example: the index of the first example it repeats, or -1.

        Memory: the answer (4 bytes per example) plus one sorted array of 8
        bytes per example, whatever the file holds (5 million identical lines
        included); everything else is done a slice at a time.
        """
        count = len(self.digests) // 8
        first_of = np.full(count, -1, dtype=np.int32)
        if count < 2:
            return first_of
        keys = np.frombuffer(self.digests, dtype=np.uint64)
        if np.count_nonzero(keys) < 2:
            return first_of
        packed = _pack(keys)
        packed.sort()  # in place: by fingerprint's high bits, then by index
        _mark_repeats(packed, keys, first_of)
        return first_of


_SLICE = 1 << 18


def _pack(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Each fingerprinted example as (high bits of its fingerprint, its index) in
    one uint64; examples without a fingerprint are left out."""
    bits = np.uint64(max(1, (len(keys) - 1).bit_length()))
    packed = np.empty(np.count_nonzero(keys), dtype=np.uint64)
    filled = 0
    for start in range(0, len(keys), _SLICE):
        part = keys[start : start + _SLICE]
        where = np.flatnonzero(part)
        chosen = part[where] >> bits
        chosen <<= bits
        chosen |= where.astype(np.uint64) + np.uint64(start)
        packed[filled : filled + len(chosen)] = chosen
        filled += len(chosen)
    return packed


def _mark_repeats(
    packed: npt.NDArray[np.uint64], keys: npt.NDArray[np.uint64], first_of: npt.NDArray[np.int32]
) -> None:
    """Walk the sorted (high bits, index) pairs: a run of equal high bits is a group
    whose first member is its earliest example; members whose whole fingerprint
    equals the first's repeat it. Different fingerprints sharing the high bits
    (a collision of the truncated bits: rare) are settled exactly afterwards."""
    bits = np.uint64(max(1, (len(keys) - 1).bit_length()))
    mask = np.uint64((1 << int(bits)) - 1)
    previous_top: np.uint64 | None = None
    carried_first = -1
    mixed: list[npt.NDArray[np.int64]] = []
    for start in range(0, len(packed), _SLICE):
        part = packed[start : start + _SLICE]
        top = part >> bits
        index = (part & mask).astype(np.int64)
        new = np.empty(len(part), dtype=bool)
        new[0] = previous_top is None or top[0] != previous_top
        np.not_equal(top[1:], top[:-1], out=new[1:])
        starts = np.where(new, np.arange(len(part)), -1)
        np.maximum.accumulate(starts, out=starts)
        firsts = np.where(starts >= 0, index[np.maximum(starts, 0)], carried_first)
        full = keys[index]
        repeat = ~new & (full != 0)  # 0: no fingerprint (an error or an unreadable line)
        exact = repeat & (full == keys[firsts])
        first_of[index[exact]] = firsts[exact]
        if (repeat & ~exact).any():
            mixed.append(index[repeat & ~exact])
        previous_top, carried_first = top[-1], int(firsts[-1])
    for value in np.unique(keys[np.concatenate(mixed)]) if mixed else ():
        hits = np.flatnonzero(keys == value)
        first_of[hits[1:]] = hits[0]


class LineIndex:
    """The line of each example, stored where ``line - index`` changes.

    A file without blank lines or multi-line rows needs one entry in all; one
    that changes at every example falls back to 4 bytes per example.
    """

    def __init__(self) -> None:
        self._count = 0
        self._starts = array("i")
        self._offsets = array("i")
        self._dense: array[int] | None = None

    def __len__(self) -> int:
        return self._count

    def append(self, line: int) -> None:
        if self._dense is not None:
            self._dense.append(line)
        elif not self._offsets or self._offsets[-1] != line - self._count:
            self._starts.append(self._count)
            self._offsets.append(line - self._count)
            if len(self._starts) > 1024 and len(self._starts) * 4 > self._count:
                self._count += 1
                self._dense = array("i", (self[i] for i in range(self._count)))
                self._starts, self._offsets = array("i"), array("i")
                return
        self._count += 1

    def __getitem__(self, index: int) -> int:
        if self._dense is not None:
            return self._dense[index]
        if not 0 <= index < self._count:
            raise IndexError(index)
        return index + self._offsets[bisect_right(self._starts, index) - 1]


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
