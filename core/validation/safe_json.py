"""JSON lines that no spreadsheet will execute and no line splitter will cut.

A fixed file may be opened in Excel or imported as CSV; then a cell that starts
with ``=``, ``+``, ``-`` or ``@`` is run as a formula (``=HYPERLINK(...)``,
DDE payloads). Inside JSON strings those characters are written as ``\\u``
escapes, which every JSON parser decodes back to the same text: the training
content is unchanged, only its spelling in the file is.

The same goes for U+0085, U+2028 and U+2029: valid inside JSON strings, but
``str.splitlines()`` (and some editors) break lines there, so one example
would become several lines, most of them not JSON. They are written escaped.
NaN and infinities are not JSON at all: writing one raises instead.
"""

from __future__ import annotations

import json
import re

# '=', '+' and '@' anywhere; '-' where a cell could start (string start, after a
# separator or whitespace). Hyphens inside words stay readable.
_RISKY = re.compile(r'[=+@]|(?:(?<=^")|(?<=[\s,;"\'|]))-')
_ESCAPES = {"=": "\\u003d", "+": "\\u002b", "@": "\\u0040", "-": "\\u002d"}
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_LINE_BREAK = re.compile("[\x85\u2028\u2029]")


def _string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    try:
        encoded.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: keep it as a \u escape (e.g. \ud83d)
        encoded = json.dumps(text)
    encoded = _RISKY.sub(lambda match: _ESCAPES[match.group(0)], encoded)
    if _LINE_BREAK.search(encoded):
        encoded = _LINE_BREAK.sub(lambda match: _LINE_BREAKS[match.group(0)], encoded)
    return encoded


def dumps_safe(value: object) -> str:
    """Compact JSON of ``value`` with formula-starting characters escaped in strings."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        items = (f"{_string(str(key))}: {dumps_safe(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps_safe(item) for item in value) + "]"
    return json.dumps(value, allow_nan=False)
