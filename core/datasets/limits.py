"""Size limits that keep reading bounded in memory, whatever a file holds.

JSONL streams, so only one line is ever held; the other formats are parsed
whole (JSON, XLSX) or per row (CSV), so their caps are lower. Every limit turns
into a finding that says what to do, never a crash or a swap storm.
"""

from __future__ import annotations

MAX_LINE_BYTES = 8 * 1024 * 1024
"""Longest JSONL line read. 65,536 tokens (the largest per-example limit) never
needs more; a longer line is reported and skipped in bounded steps."""

MAX_JSON_FILE_BYTES = 64 * 1024 * 1024
"""A ``.json`` file is parsed whole; beyond this JSONL is the right format."""

MAX_CSV_FIELD_BYTES = 8 * 1024 * 1024
"""csv module field limit: one cell can never be larger than a JSONL line."""

MAX_XLSX_FILE_BYTES = 64 * 1024 * 1024
MAX_XLSX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
"""Sum of the uncompressed sizes the zip directory declares, checked before
any parsing: a zip bomb declares gigabytes in a few kilobytes."""

MAX_XLSX_COMPRESSION_RATIO = 200
"""Real sheets compress ~5-20x; a ratio in the hundreds means a crafted file."""

MAX_XLSX_ENTRIES = 10_000

MAX_EXAMPLES = 5_000_000
"""Examples whose facts (tokens, line, fingerprint) are kept for the report:
~17 bytes each, so memory stays bounded even for 170 million 3-byte lines."""

SNIFF_BYTES = 8192
"""How much of the head of a file is inspected to tell text from binary."""
