"""Fingerprints for duplicate detection: two examples that ``--fix`` would write
identically get the same fingerprint.

So key order, the whitespace between JSON tokens, escapes (``\\u00e9`` vs ``é``)
and the padding ``--fix`` strips from texts make no difference; anything else
in the content does. A fingerprint is 8 bytes, so a 5-million-example file
holds 40 MB of them; a chance collision (reported as a duplicate) has odds of
about n²/2⁶⁵: one in a million at 5 million examples, one in 10¹¹ at 10,000.
"""

from __future__ import annotations

import json
from hashlib import blake2b

NO_FINGERPRINT = bytes(8)
"""Examples with errors, and unreadable ones, take no part in duplicate detection."""


def fingerprint(example: object) -> bytes:
    """8-byte hash of ``example`` in canonical form; strips its texts in place.

    Raises nothing: an example too deep to serialise gets :data:`NO_FINGERPRINT`.
    """
    if isinstance(example, dict):
        strip_texts(example)
        if "prompt" in example or "completion" in example:
            for key in ("prompt", "completion"):
                _strip_key(example, key)
    try:
        canonical = json.dumps(example, sort_keys=True, separators=(",", ":"))
    except (RecursionError, ValueError):
        return NO_FINGERPRINT
    digest = blake2b(canonical.encode("ascii"), digest_size=8).digest()
    return digest if digest != NO_FINGERPRINT else b"\x01" + digest[1:]


def strip_texts(example: dict[str, object]) -> int:
    """Strip message contents, text parts and ``text`` in place; return how many changed."""
    changed = 0
    holders: list[object] = [
        example.get("messages"),
        example.get("preferred_output"),
        example.get("non_preferred_output"),
    ]
    source = example.get("input")
    if isinstance(source, dict):
        holders.append(source.get("messages"))
    for messages in holders:
        for message in messages if isinstance(messages, list) else ():
            if not isinstance(message, dict):
                continue
            changed += _strip_key(message, "content")
            parts = message.get("content")
            for part in parts if isinstance(parts, list) else ():
                if isinstance(part, dict):
                    changed += _strip_key(part, "text")
    return changed + _strip_key(example, "text")


def _strip_key(holder: dict[str, object], key: str) -> int:
    value = holder.get(key)
    if isinstance(value, str) and value and value != value.strip():
        holder[key] = value.strip()
        return 1
    return 0
