"""JSON as the standard defines it, which is what OpenAI parses.

Python's ``json`` accepts ``NaN``, ``Infinity`` and ``-Infinity``, turns a number
too large for a float (``1e400``) into infinity, and keeps the last of two equal
keys in one object. OpenAI refuses the first two, and a repeated key silently
drops one of the values, so each is refused here with the reason; ``--fix``
then can never write them.
"""

from __future__ import annotations

import json
import math


class RefusedJSON(ValueError):
    """Text that Python's ``json`` would accept but JSON (and OpenAI) does not.

    ``code`` is the finding code: ``invalid_json`` or ``duplicate_key``.
    """

    def __init__(self, message: str, *, code: str = "invalid_json") -> None:
        super().__init__(message)
        self.code = code


def _no_constant(name: str) -> object:
    raise RefusedJSON(f"{name} is not valid JSON (OpenAI refuses it)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise RefusedJSON(f"the number {text[:40]} is too large for a 64-bit float")
    return value


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        repeated = ""
        for key, _value in pairs:
            if key in seen:
                repeated = key
                break
            seen.add(key)
        raise RefusedJSON(
            f"the key {repeated[:60]!r} appears twice in one object, so one value would be "
            "silently lost",
            code="duplicate_key",
        )
    return result


DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_keys, parse_constant=_no_constant, parse_float=_finite_float
)
"""Use ``DECODER.decode(text)`` or ``DECODER.raw_decode(text, pos)``."""


def loads(text: str) -> object:
    """Decode ``text`` strictly.

    Raises:
        RefusedJSON: NaN/Infinity, an overflowing number or a repeated key.
        json.JSONDecodeError: text that is not JSON at all.
        RecursionError: nesting deeper than the interpreter's limit.
    """
    return DECODER.decode(text)
