"""JSON lines that no spreadsheet will execute.

A fixed file may be opened in Excel or imported as CSV; then a cell that starts
with ``=``, ``+``, ``-`` or ``@`` is run as a formula (``=HYPERLINK(...)``,
DDE payloads). Inside JSON strings those characters are written as ``\\u``
escapes, which every JSON parser decodes back to the same text: the training
content is unchanged, only its spelling in the file is.
"""

from __future__ import annotations

import json
import re

# '=', '+' and '@' anywhere; '-' where a cell could start (string start, after a
# separator or whitespace). Hyphens inside words stay readable.
_RISKY = re.compile(r'[=+@]|(?:(?<=^")|(?<=[\s,;"\'|]))-')
_ESCAPES = {"=": "\\u003d", "+": "\\u002b", "@": "\\u0040", "-": "\\u002d"}


def _string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    try:
        encoded.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: keep it as a \u escape (e.g. \ud83d)
        encoded = json.dumps(text)
    return _RISKY.sub(lambda match: _ESCAPES[match.group(0)], encoded)


def dumps_safe(value: object) -> str:
    """Compact JSON of ``value`` with formula-starting characters escaped in strings."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        items = (f"{_string(str(key))}: {dumps_safe(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps_safe(item) for item in value) + "]"
    return json.dumps(value)
