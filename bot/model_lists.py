"""Each provider's model list, cached for a few minutes.

Why: every "Fine-tune on …" click needs the list to fill the modal, and the
modal must open within Slack's 3-second trigger window; asking the provider on
every click costs a round trip each time for a list that changes rarely.
"""

from __future__ import annotations

import threading
import time

from core.providers import Provider


class ModelLists:
    """``provider.list_models()`` with a time-to-live; errors are not cached."""

    def __init__(self, *, ttl_s: float = 300.0) -> None:
        self._ttl_s = ttl_s
        self._lists: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def get(self, provider: Provider) -> list[str]:
        """The provider's models. Raises ProviderError like ``list_models``."""
        with self._lock:
            cached = self._lists.get(provider.name)
        if cached is not None and time.monotonic() - cached[0] < self._ttl_s:
            return list(cached[1])
        models = provider.list_models()
        with self._lock:
            self._lists[provider.name] = (time.monotonic(), models)
        return list(models)
