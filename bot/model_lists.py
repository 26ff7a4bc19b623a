"""Each provider's model list, served from cache and refreshed in the background.

Why: every "Fine-tune on …" click needs the list to fill the modal, and the
modal must open within Slack's 3-second trigger window. A provider that takes
4 s to list its models would make the click do nothing, so a click never waits
for a refresh: it gets the cached list (even a stale one, refreshed behind it),
or, with nothing cached yet, waits at most ``wait_s`` and otherwise gets no list
(the modal then asks for the model id as text).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from core.errors import ProviderError
from core.providers import Provider

logger = logging.getLogger(__name__)


class ModelLists:
    """``provider.list_models()`` behind a cache: stale lists are served while one
    background refresh per provider runs; errors are not cached."""

    def __init__(self, *, ttl_s: float = 300.0, wait_s: float = 1.5) -> None:
        self._ttl_s = ttl_s
        self._wait_s = wait_s
        self._lists: dict[str, tuple[float, list[str]]] = {}
        self._refreshing: dict[str, Future[list[str]]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tunebot-models")

    def get(self, provider: Provider) -> list[str]:
        """The provider's models, at once when cached; [] when the first list is slow.

        Raises ProviderError like ``list_models`` when the first list fails fast.
        """
        with self._lock:
            cached = self._lists.get(provider.name)
        if cached is not None:
            if time.monotonic() - cached[0] >= self._ttl_s:
                self._refresh(provider)
            return list(cached[1])
        try:
            return list(self._refresh(provider).result(timeout=self._wait_s))
        except FutureTimeout:
            logger.warning("%s model list is slow; the modal asks for the id", provider.name)
            return []

    def _refresh(self, provider: Provider) -> Future[list[str]]:
        with self._lock:
            running = self._refreshing.get(provider.name)
            if running is not None and not running.done():
                return running
            future = self._pool.submit(self._fetch, provider)
            self._refreshing[provider.name] = future
            return future

    def _fetch(self, provider: Provider) -> list[str]:
        try:
            models = provider.list_models()
        except ProviderError as exc:
            logger.warning("listing %s models failed: %s", provider.name, exc.message)
            raise
        with self._lock:
            self._lists[provider.name] = (time.monotonic(), models)
        return models

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
