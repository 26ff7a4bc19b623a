"""What a chat request asks of a backend and what comes back, backend-neutral.

Why a handle per request (:class:`Generation`): a backend produces tokens on
its own thread (HF) or event loop (vLLM) while the HTTP side reads them at its
own pace; the handle carries events one way and cancellation the other, so a
client that goes away stops its generation instead of holding the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

DEFAULT_MAX_TOKENS = 256
MAX_STOP_SEQUENCES = 4
"""OpenAI's limit on ``stop``."""
MAX_TOP_LOGPROBS = 20
"""OpenAI's limit on ``top_logprobs``."""


@dataclass(frozen=True)
class ModelKey:
    base: str
    load_in_4bit: bool
    adapter: str | None = None


@dataclass(frozen=True)
class Sampling:
    """Validated generation options; ``temperature == 0`` means greedy."""

    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False
    top_logprobs: int = 0


@dataclass(frozen=True)
class TopLogprob:
    token: str
    logprob: float
    bytes: list[int]


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    bytes: list[int]
    top_logprobs: list[TopLogprob] = field(default_factory=list)


@dataclass(frozen=True)
class Delta:
    """New text for a stream, and the log-probabilities of the tokens behind it."""

    text: str
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    logprobs: tuple[TokenLogprob, ...] | None = None
    """Tokens not yet sent in a :class:`Delta` (all of them when not streaming)."""


class Cancelled(Exception):
    """The generation was cancelled (client gone or server shutting down)."""


Event = Delta | Completion | BaseException


class Generation:
    """One request's events (deltas, then a completion or an error) and its cancel flag.

    Parameters:
        stream: whether the reader wants :class:`Delta` events as text arrives.
        loop: the event loop an async reader runs on; ``None`` for a blocking reader.
    """

    def __init__(self, *, stream: bool, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.stream = stream
        self._cancel = threading.Event()
        self._loop = loop
        self._async: asyncio.Queue[Event] | None = asyncio.Queue() if loop else None
        self._sync: queue.SimpleQueue[Event] = queue.SimpleQueue()

    # --- backend side ----------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def emit(self, event: Event) -> None:
        """Hand an event to the reader; safe from any thread."""
        if self._loop is None or self._async is None:
            self._sync.put(event)
            return
        # A closed loop means the server is gone and nobody is reading.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._async.put_nowait, event)

    # --- reader side -----------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    async def events(self) -> AsyncIterator[Delta | Completion]:
        """Deltas (when streaming) then the completion; errors are raised."""
        assert self._async is not None, "created without a loop: use wait()"
        while True:
            event = await self._async.get()
            if isinstance(event, BaseException):
                raise event
            yield event
            if isinstance(event, Completion):
                return

    def wait(self, timeout: float | None = None) -> Completion:
        """Block until the completion (for scripts and tests without an event loop)."""
        while True:
            event = self._sync.get(timeout=timeout)
            if isinstance(event, BaseException):
                raise event
            if isinstance(event, Completion):
                return event
