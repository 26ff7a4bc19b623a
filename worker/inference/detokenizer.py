"""Token ids -> text as they are generated, with stop strings and logprob bytes.

Why incremental: decoding the whole answer at every step costs O(n²); the
windowed decode below (the scheme vLLM uses) costs O(1) per token and gives
the same text as one ``decode`` of all ids, including words split across
tokens and multi-byte characters split across byte-level tokens.

Why hold text back: a stream must never send text that later turns out to be
the start of a stop string, so the tail that could still grow into one waits.
"""

from __future__ import annotations

from functools import cache
from typing import Any

REPLACEMENT = "\ufffd"


class TextTracker:
    """The answer's text so far, cut at the first stop string.

    Parameters:
        tokenizer: a Hugging Face tokenizer.
        stop: strings that end the answer (not included in it).
    """

    def __init__(self, tokenizer: Any, stop: tuple[str, ...] = ()) -> None:
        self._tokenizer = tokenizer
        self._stop = tuple(s for s in stop if s)
        self._longest_stop = max((len(s) for s in self._stop), default=0)
        self._ids: list[int] = []
        self._prefix = 0
        self._read = 0
        self.text = ""
        self.stopped = False
        self._sent = 0

    def add(self, token_id: int) -> None:
        """Append one generated token; sets :attr:`stopped` when a stop string appears."""
        self._ids.append(token_id)
        before = len(self.text)
        done = self._decode(final=False)
        if done:
            self._check_stop(before)

    def finish(self) -> None:
        """Flush text held for an incomplete multi-byte character."""
        if not self.stopped and self._read < len(self._ids):
            before = len(self.text)
            self._decode(final=True)
            self._check_stop(before)

    def unsent(self, *, final: bool) -> str:
        """Text not yet handed out; before the end, minus a tail that may begin a stop."""
        end = len(self.text) if final or self.stopped else len(self.text) - self._held_back()
        piece = self.text[self._sent : end]
        self._sent = max(self._sent, end)
        return piece

    def _decode(self, *, final: bool) -> bool:
        decode = self._tokenizer.decode
        window = self._ids[self._prefix :]
        prefix_text = decode(self._ids[self._prefix : self._read], skip_special_tokens=True)
        full = decode(window, skip_special_tokens=True)
        if len(full) <= len(prefix_text) or (full.endswith(REPLACEMENT) and not final):
            return False  # an incomplete character: wait for the next byte(s)
        self.text += full[len(prefix_text) :]
        self._prefix, self._read = self._read, len(self._ids)
        return True

    def _check_stop(self, before: int) -> None:
        if not self._stop:
            return
        start = max(0, before - self._longest_stop + 1)
        hits = [i for i in (self.text.find(s, start) for s in self._stop) if i >= 0]
        if hits:
            self.text = self.text[: min(hits)]
            self.stopped = True

    def _held_back(self) -> int:
        tail = self.text[self._sent :]
        for size in range(min(len(tail), self._longest_stop - 1), 0, -1):
            if any(s.startswith(tail[-size:]) for s in self._stop):
                return size
        return 0


@cache
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed: each character stands for one byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def is_byte_level(tokenizer: Any) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return type(getattr(backend, "decoder", None)).__name__ == "ByteLevel"


def token_text_and_bytes(
    tokenizer: Any, token_id: int, *, byte_level: bool
) -> tuple[str, list[int]]:
    """A token's text and its exact bytes (OpenAI's ``bytes``: a token may hold
    part of a multi-byte character, which its text alone cannot show)."""
    text: str = tokenizer.decode([token_id])
    if byte_level and token_id not in tokenizer.all_special_ids:
        piece = tokenizer.convert_ids_to_tokens(token_id)
        decoder = _byte_decoder()
        if isinstance(piece, str) and all(ch in decoder for ch in piece):
            return text, [decoder[ch] for ch in piece]
    return text, list(text.encode("utf-8"))


def max_token_chars(tokenizer: Any) -> int:
    """The most characters one token can stand for: bounds the token count from below
    (``tokens >= characters / max_token_chars``) without tokenising."""
    vocab = tokenizer.get_vocab()
    longest = max((len(piece) for piece in vocab), default=1)
    return max(longest, 1)
