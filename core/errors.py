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

Core never words a front end's commands: an error that has an obvious next
step carries it as :class:`NextStep` data (plus the id it is about), and the
bot, the CLI and the worker each say it their own way.
"""

from __future__ import annotations

from enum import StrEnum


class NextStep(StrEnum):
    """What a person can do next; each front end renders its own wording."""

    LIST_MODELS = "list_models"  # see which base models the provider offers
    START_ON_WORKER = "start_on_worker"  # start the same dataset on the team's worker
    FOLLOW_OR_CANCEL = "follow_or_cancel"  # follow the job named in ``subject``, or cancel it
    START_AGAIN = "start_again"  # start a new job once the cause is fixed


class TunebotError(Exception):
    """Root of every error tunebot raises deliberately.

    ``hint`` says what the person should do next, when there is something to do;
    ``next_step`` names a front-end action that helps (``subject``: the job or
    dataset it is about).
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        next_step: NextStep | None = None,
        subject: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.next_step = next_step
        self.subject = subject

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
        self,
        message: str,
        *,
        provider: str,
        hint: str | None = None,
        code: str | None = None,
        next_step: NextStep | None = None,
    ) -> None:
        super().__init__(message, hint=hint, next_step=next_step)
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
