"""Incremental detokenising, stop strings and logprob bytes, with the tiny model's
real byte-level tokenizer (multi-byte characters split across tokens)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from worker.inference.detokenizer import (
    TextTracker,
    is_byte_level,
    max_token_chars,
    token_text_and_bytes,
)

TEXT = "Héllo wörld ✓ 日本語 — the quick brown fox\nsays «bonjour» 🦊 twice."


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _feed(tracker: TextTracker, ids: list[int]) -> list[str]:
    pieces = []
    for token in ids:
        tracker.add(token)
        if tracker.stopped:
            break
        pieces.append(tracker.unsent(final=False))
    tracker.finish()
    pieces.append(tracker.unsent(final=True))
    return pieces


def test_incremental_text_equals_one_decode(tokenizer: Any) -> None:
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(TEXT) // 3  # many multi-byte characters span several tokens
    tracker = TextTracker(tokenizer)
    pieces = _feed(tracker, ids)
    assert tracker.text == TEXT == "".join(pieces)
    assert all("\ufffd" not in piece for piece in pieces)  # never half a character


@pytest.mark.parametrize("stop", ["wörld", "日本", "fox\nsays", "🦊", "«"])
def test_stop_strings_cut_the_text_and_never_leak(tokenizer: Any, stop: str) -> None:
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    tracker = TextTracker(tokenizer, (stop, "not in the text"))
    sent = "".join(_feed(tracker, ids))
    assert tracker.stopped and tracker.text == TEXT[: TEXT.index(stop)] == sent


def test_a_prefix_of_a_stop_is_held_back_until_it_is_not_one(tokenizer: Any) -> None:
    tracker = TextTracker(tokenizer, ("fox!",))
    ids = tokenizer("the fox? yes", add_special_tokens=False)["input_ids"]
    seen = _feed(tracker, ids)
    assert not tracker.stopped and "".join(seen) == "the fox? yes"
    partial = TextTracker(tokenizer, ("fox!",))
    for token in tokenizer("the fo", add_special_tokens=False)["input_ids"]:
        partial.add(token)
    assert partial.unsent(final=False) == "the "  # "fo" may still become "fox!"


def test_token_bytes_rebuild_the_text(tokenizer: Any) -> None:
    assert is_byte_level(tokenizer)
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    raw = b"".join(bytes(token_text_and_bytes(tokenizer, i, byte_level=True)[1]) for i in ids)
    assert raw.decode("utf-8") == TEXT
    longest = max_token_chars(tokenizer)
    assert all(len(tokenizer.decode([i])) <= longest for i in range(len(tokenizer)))
