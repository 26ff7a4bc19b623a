"""Fixtures for core.evaluation tests: a throwaway database and an in-process chat provider.

The in-process provider is used where the logic (not the HTTP path) is under
test; tests that need the real openai-SDK path use ``core.providers.Provider``
against the fake OpenAI server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from core.errors import ProviderTimeout
from core.providers import ChatResult
from core.store.engine import create_db_engine, init_db

Responder = Callable[[list[dict[str, Any]]], str]


class ScriptedProvider:
    """Answers per model with a function of the messages; can delay or fail.

    Counts the requests in flight so tests can check bounded concurrency.
    """

    def __init__(self, name: str = "worker") -> None:
        self.name = name
        self._responders: dict[str, tuple[Responder, float, bool]] = {}
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: list[dict[str, Any]] = []

    def set(
        self, model: str, responder: Responder, *, delay: float = 0.0, fail: bool = False
    ) -> None:
        self._responders[model] = (responder, delay, fail)

    def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        max_tokens: int = 512,
        temperature: float = 0.7,
        seed: int | None = None,
    ) -> ChatResult:
        responder, delay, fail = self._responders[model]
        with self._lock:
            self.calls.append(
                {
                    "model": model,
                    "messages": messages,
                    "temperature": temperature,
                    "max_tokens": max_tokens,
                    "seed": seed,
                }
            )
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        started = time.monotonic()
        try:
            time.sleep(delay)
            if fail:
                raise ProviderTimeout(f"{model} did not answer", provider=self.name)
            text = responder(messages)
        finally:
            with self._lock:
                self.in_flight -= 1
        return ChatResult(text, time.monotonic() - started, 10, len(text.split()), model)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    db = create_db_engine(f"sqlite:///{tmp_path / 'eval.db'}")
    init_db(db)
    yield db
    db.dispose()


@pytest.fixture
def scripted() -> ScriptedProvider:
    return ScriptedProvider()
