"""Errors tunebot raises on purpose, each one meant to reach a person.

::

    TunebotError                 root: catch this to catch everything we raise
    ├── ConfigError              a setting is missing or invalid
    ├── DatasetError             the file cannot be read as a dataset at all
    ├── ProviderError            a training/inference provider failed
    │   ├── ProviderTimeout      no answer in time (network, 5xx after retries)
    │   └── ProviderRejected     the provider said no (4xx): permission, bad file, quota
    ├── TrainingError            a job could not be started, polled or cancelled
    └── EvaluationError          an A/B session or held-out evaluation failed

Listeners and the CLI map each class to a user message (``str(error)`` is written
for people); anything else is a bug and gets ``logger.exception``.
"""

from __future__ import annotations


class TunebotError(Exception):
    """Root of every error tunebot raises deliberately.

    ``hint`` says what the person should do next, when there is something to do.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def user_message(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class ConfigError(TunebotError):
    """A setting is missing or invalid."""


class DatasetError(TunebotError):
    """The file cannot be read as a dataset at all (findings cover the rest)."""

    def __init__(self, message: str, *, code: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class ProviderError(TunebotError):
    """A provider (OpenAI, Azure OpenAI, the worker) failed."""

    def __init__(
        self, message: str, *, provider: str, hint: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.provider = provider
        self.code = code


class ProviderTimeout(ProviderError):
    """No answer in time: network failure, or 429/5xx after the SDK's retries."""


class ProviderRejected(ProviderError):
    """The provider refused the request (a 4xx): permission, invalid file, quota, model."""


class TrainingError(TunebotError):
    """A training job could not be started, polled or cancelled."""


class EvaluationError(TunebotError):
    """An A/B session or a held-out evaluation failed."""
