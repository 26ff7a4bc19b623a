"""One training/inference client for OpenAI, Azure OpenAI and the team's worker.

All three speak the same REST protocol (DESIGN.md, "One protocol for every
training provider"), so :class:`Provider` wraps the official ``openai`` SDK and
only the client construction differs. The SDK retries 429/5xx and connection
errors itself (``max_retries``); what is left after that is translated into the
``core.errors`` tree so callers never see SDK exceptions, and no message ever
carries a key.

Example::

    providers = build_providers(load_settings())
    worker = providers["worker"]
    file_id = worker.upload_file(Path("train.jsonl"))
    job = worker.create_job(model="Qwen/Qwen2.5-0.5B-Instruct", training_file=file_id)

Polling hundreds of jobs goes through :meth:`Provider.job_reader` instead: a
:class:`JobReader` on the SDK's async client, so one event loop thread keeps
every request in flight without a thread (and the GIL hand-offs) per request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, DefaultAioHttpClient, OpenAI
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

from core.config import Settings
from core.errors import NextStep, ProviderError, ProviderRejected, ProviderTimeout

ProviderName = Literal["openai", "azure", "worker"]

# Hyperparameters OpenAI and Azure accept for supervised fine-tuning; the worker
# also takes the LoRA/QLoRA ones (core.training.config.TrainingParams).
OPENAI_HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier")
# What OpenAI and Azure accept for preference fine-tuning (``method.dpo.hyperparameters``).
OPENAI_DPO_HYPERPARAMETERS = (*OPENAI_HYPERPARAMETERS, "beta")

# Models OpenAI documents as fine-tunable, shown first in pickers.
FINE_TUNABLE_OPENAI_MODELS = (
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "gpt-4.1-2025-04-14",
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
    "gpt-3.5-turbo-0125",
)

FINE_TUNING_UNAVAILABLE = (
    "This organisation can no longer start fine-tuning jobs on OpenAI: OpenAI is winding "
    "down self-serve fine-tuning (no new jobs for anyone after 2027-01-06)."
)
FINE_TUNING_UNAVAILABLE_HINT = (
    "Train on the team's own worker instead (set TUNEBOT_WORKER_URL if it is not configured)."
)

# Keys and bearer tokens that may be echoed in provider error messages.
_SECRET_PATTERN = re.compile(r"(sk-[A-Za-z0-9_\-*]{6,}|Bearer\s+\S+|api[-_ ]?key[=:]\s*\S+)", re.I)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One saved checkpoint of a job: a model id that can be served, and its losses."""

    model: str
    step: int
    train_loss: float | None = None
    valid_loss: float | None = None


@dataclass(frozen=True, slots=True)
class ChatResult:
    """One chat completion, with what an A/B test reports about it."""

    text: str
    latency_s: float
    prompt_tokens: int
    completion_tokens: int
    model: str


def redact(text: str) -> str:
    """Remove anything that looks like a key from a provider's message."""
    return _SECRET_PATTERN.sub("[redacted]", text)


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return redact(inner["message"])
    return redact(exc.message)


def _status_code(exc: openai.APIStatusError) -> str | None:
    code = exc.code
    if code is None and isinstance(exc.body, Mapping):
        inner = exc.body.get("error", exc.body)
        if isinstance(inner, Mapping):
            code = inner.get("code")
    return str(code) if code else None


class Provider:
    """A fine-tuning and chat provider reached through the ``openai`` SDK.

    Parameters:
        name: ``"openai"``, ``"azure"`` or ``"worker"``; decides which
            hyperparameters are sent and how permission errors are explained.
        client: a configured ``OpenAI`` or ``AzureOpenAI`` client.
        async_client: makes the matching ``AsyncOpenAI``/``AsyncAzureOpenAI``
            client for :meth:`job_reader`; None when this provider is not polled.
        events_page_size: events asked for per request by :meth:`new_events`.
    """

    def __init__(
        self,
        *,
        name: ProviderName,
        client: OpenAI,
        async_client: Callable[[], AsyncOpenAI] | None = None,
        events_page_size: int = 100,
    ) -> None:
        self.name: ProviderName = name
        self._client = client
        self._async_client = async_client
        self._events_page_size = events_page_size

    def __repr__(self) -> str:
        return f"Provider(name={self.name!r}, base_url={str(self._client.base_url)!r})"

    def close(self) -> None:
        """Close the client's connections (job readers close their own: ``aclose``)."""
        self._client.close()

    # --- files and jobs -------------------------------------------------------
    def upload_file(self, path: Path) -> str:
        """Upload a JSONL file with ``purpose="fine-tune"`` and return its file id.

        Raises:
            ProviderRejected: the provider refused the file (format, size, key).
            ProviderTimeout: no answer after the SDK's retries.
        """
        with self._errors("upload the dataset"), path.open("rb") as handle:
            file_id = self._client.files.create(file=handle, purpose="fine-tune").id
        if self.name == "azure":
            self._wait_until_processed(file_id)
        return file_id

    def _wait_until_processed(self, file_id: str, *, timeout_s: float = 600.0) -> None:
        """Azure refuses jobs on files it is still importing (OpenAI and the worker wait)."""
        deadline = time.monotonic() + timeout_s
        delay = 0.5
        while True:
            with self._errors("check the uploaded dataset"):
                status = self._client.files.retrieve(file_id).status
            if status == "processed":
                return
            if status in ("error", "failed", "deleted"):
                raise ProviderRejected(
                    f"{self.name} could not import the uploaded dataset (status {status}).",
                    provider=self.name,
                    code="invalid_training_file",
                    hint="Check the report's warnings, fix the file and drop it again.",
                )
            if time.monotonic() > deadline:
                raise ProviderTimeout(
                    f"{self.name} did not finish importing the dataset in {timeout_s:.0f} s.",
                    provider=self.name,
                    code="file_processing_timeout",
                    hint="Try again later.",
                )
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    def create_job(
        self,
        *,
        model: str,
        training_file: str,
        validation_file: str | None = None,
        suffix: str | None = None,
        seed: int | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        metadata: Mapping[str, str] | None = None,
        method: Literal["supervised", "dpo"] | str = "supervised",
    ) -> FineTuningJob:
        """Create a fine-tuning job: supervised, or preference (DPO) training.

        Parameters:
            hyperparameters: ``n_epochs``/``batch_size``/``learning_rate_multiplier``
                (and ``beta`` for DPO) for every provider; the worker also reads the
                LoRA options. ``None`` values are left out so the provider picks ("auto").
            method: OpenAI's ``method.type``; every provider takes the same shape,
                ``{"type": method, method: {"hyperparameters": ...}}``.

        Raises:
            ProviderRejected: ``code="fine_tuning_unavailable"`` when OpenAI denies
                job creation to the organisation; other codes for bad files, unknown
                models, exhausted quota or bad keys.
            ProviderTimeout: no answer after the SDK's retries.
        """
        openai_keys = OPENAI_DPO_HYPERPARAMETERS if method == "dpo" else OPENAI_HYPERPARAMETERS
        allowed = None if self.name == "worker" else openai_keys
        hp = {
            key: value
            for key, value in (hyperparameters or {}).items()
            if value is not None and (allowed is None or key in allowed)
        }
        extra: dict[str, Any] = {}
        if validation_file:
            extra["validation_file"] = validation_file
        if suffix:
            extra["suffix"] = suffix
        if seed is not None:
            extra["seed"] = seed
        if metadata:
            extra["metadata"] = dict(metadata)
        # The SDK's TypedDict lists OpenAI's hyperparameters only; the worker reads more.
        shape: Any = {"type": method, method: {"hyperparameters": hp}}
        with self._errors("create the fine-tuning job", creating_job=True):
            return self._client.fine_tuning.jobs.create(
                model=model,
                training_file=training_file,
                method=shape,
                **extra,
            )

    def retrieve_job(self, job_id: str) -> FineTuningJob:
        """The job's current state. Raises ProviderRejected/ProviderTimeout."""
        with self._errors("read the job"):
            return self._client.fine_tuning.jobs.retrieve(job_id)

    def new_events(self, job_id: str, *, after_event_id: str | None) -> list[FineTuningJobEvent]:
        """Every event newer than ``after_event_id``, oldest first.

        OpenAI lists events newest first and its ``after`` cursor pages towards
        older ones, so pages are read from the newest until ``after_event_id``
        (or the end) is reached. When nothing is new this is one request.

        Raises:
            ProviderRejected, ProviderTimeout: as for :meth:`retrieve_job`.
        """
        newer = _NewerEvents(after_event_id)
        with self._errors("read the job's events"):
            while not newer.done:
                newer.add(
                    self._client.fine_tuning.jobs.list_events(
                        job_id,
                        limit=self._events_page_size,
                        after=newer.cursor or openai.omit,
                    )
                )
        return newer.oldest_first()

    def job_reader(self) -> JobReader:
        """A reader of job states and events on a fresh async client.

        Fresh because an async client's connections belong to the event loop
        that opened them: each poller's loop gets its own and closes it.

        Raises:
            ProviderRejected: the provider was built without ``async_client``.
        """
        if self._async_client is None:
            raise ProviderRejected(
                f"{self.name} has no async client, so its jobs cannot be polled.",
                provider=self.name,
                code="no_async_client",
                hint="Build providers with core.providers.build_providers.",
            )
        return JobReader(
            name=self.name, client=self._async_client(), events_page_size=self._events_page_size
        )

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        """The job's checkpoints, oldest step first (OpenAI keeps the last three).

        Raises:
            ProviderRejected, ProviderTimeout: as for :meth:`retrieve_job`.
        """
        found: list[Checkpoint] = []
        with self._errors("list the job's checkpoints"):
            for item in self._client.fine_tuning.jobs.checkpoints.list(job_id, limit=100):
                metrics = item.metrics
                valid = None
                if metrics is not None:
                    valid = (
                        metrics.full_valid_loss
                        if metrics.full_valid_loss is not None
                        else metrics.valid_loss
                    )
                found.append(
                    Checkpoint(
                        model=item.fine_tuned_model_checkpoint,
                        step=item.step_number,
                        train_loss=metrics.train_loss if metrics is not None else None,
                        valid_loss=valid,
                    )
                )
        return sorted(found, key=lambda c: c.step)

    def cancel_job(self, job_id: str) -> FineTuningJob:
        """Ask the provider to cancel. Raises ProviderRejected/ProviderTimeout."""
        with self._errors("cancel the job"):
            return self._client.fine_tuning.jobs.cancel(job_id)

    # --- models and inference ------------------------------------------------
    def list_models(self) -> list[str]:
        """Model ids the provider can fine-tune or serve, fine-tunable ones first."""
        with self._errors("list models"):
            ids = sorted({model.id for model in self._client.models.list()})
        known = [m for m in FINE_TUNABLE_OPENAI_MODELS if m in ids]
        return known + [m for m in ids if m not in known]

    def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        max_tokens: int = 512,
        temperature: float = 0.7,
        seed: int | None = None,
    ) -> ChatResult:
        """One chat completion, timed. Raises ProviderRejected/ProviderTimeout."""
        extra: dict[str, Any] = {} if seed is None else {"seed": seed}
        started = time.perf_counter()
        with self._errors("get a chat completion"):
            response = self._client.chat.completions.create(
                model=model,
                # Plain dicts in OpenAI's message shape; the SDK types them as a TypedDict union.
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=temperature,
                **extra,
            )
        latency = time.perf_counter() - started
        usage = response.usage
        text = response.choices[0].message.content if response.choices else None
        return ChatResult(
            text=text or "",
            latency_s=latency,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            model=response.model,
        )

    def _errors(self, action: str, *, creating_job: bool = False) -> AbstractContextManager[None]:
        return _errors(self.name, action, creating_job=creating_job)


class _Page(Protocol):
    """The part of an SDK cursor page of events that paging reads."""

    @property
    def data(self) -> Sequence[FineTuningJobEvent]: ...
    @property
    def has_more(self) -> bool | None: ...


class _NewerEvents:
    """Collects the events newer than ``after_event_id`` from pages read newest first.

    Shared by the sync and the async reader so both stop at the same place.
    """

    def __init__(self, after_event_id: str | None) -> None:
        self._after = after_event_id
        self._newer: list[FineTuningJobEvent] = []
        self.cursor: str | None = None
        self.done = False

    def add(self, page: _Page) -> None:
        for event in page.data:
            if event.id == self._after:
                self.done = True
                return
            self._newer.append(event)
        self.done = not page.data or not page.has_more
        if not self.done:
            self.cursor = page.data[-1].id

    def oldest_first(self) -> list[FineTuningJobEvent]:
        return self._newer[::-1]


class JobReader:
    """Reads job states and events through the SDK's async client (for the poller).

    The same requests, retries and errors as :class:`Provider`'s ``retrieve_job``
    and ``new_events``; one instance belongs to one event loop.
    """

    def __init__(self, *, name: ProviderName, client: AsyncOpenAI, events_page_size: int) -> None:
        self.name: ProviderName = name
        self._client = client
        self._events_page_size = events_page_size

    async def retrieve_job(self, job_id: str) -> FineTuningJob:
        """The job's current state. Raises ProviderRejected/ProviderTimeout."""
        with _errors(self.name, "read the job"):
            return await self._client.fine_tuning.jobs.retrieve(job_id)

    async def new_events(
        self, job_id: str, *, after_event_id: str | None
    ) -> list[FineTuningJobEvent]:
        """As :meth:`Provider.new_events`: one request when nothing is new."""
        newer = _NewerEvents(after_event_id)
        with _errors(self.name, "read the job's events"):
            while not newer.done:
                newer.add(
                    await self._client.fine_tuning.jobs.list_events(
                        job_id,
                        limit=self._events_page_size,
                        after=newer.cursor or openai.omit,
                    )
                )
        return newer.oldest_first()

    async def aclose(self) -> None:
        """Close the client's connections, on the loop that opened them."""
        await self._client.close()


# --- error translation, shared by Provider and JobReader --------------------------
@contextmanager
def _errors(name: str, action: str, *, creating_job: bool = False) -> Iterator[None]:
    """What the SDK raises after its retries, as ``core.errors`` (no key in any message)."""
    try:
        yield
    except openai.APIStatusError as exc:
        raise _translate_status(name, exc, action, creating_job=creating_job) from None
    except openai.APIConnectionError as exc:
        timeout = _timed_out(exc)
        raise ProviderTimeout(
            f"Could not {action} on {name}: "
            + ("it did not answer in time." if timeout else "the connection failed."),
            provider=name,
            code="timeout" if timeout else "connection_error",
            hint="Check that the provider is reachable and try again in a few minutes.",
        ) from None


def _translate_status(
    name: str, exc: openai.APIStatusError, action: str, *, creating_job: bool
) -> ProviderError:
    code = _status_code(exc)
    detail = _provider_message(exc)
    where = f"Could not {action} on {name}"
    rejected = _rejection_factory(name)
    if isinstance(exc, openai.PermissionDeniedError) and creating_job and name != "worker":
        return rejected(
            FINE_TUNING_UNAVAILABLE,
            "fine_tuning_unavailable",
            FINE_TUNING_UNAVAILABLE_HINT,
            NextStep.START_ON_WORKER,
        )
    if isinstance(exc, openai.AuthenticationError):
        return rejected(
            f"{where}: the API key was not accepted.",
            "invalid_api_key",
            "Check the key configured for this provider.",
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return rejected(
            f"{where}: permission denied ({detail}).",
            code or "permission_denied",
            "Ask an admin of the provider account for access.",
        )
    if isinstance(exc, openai.RateLimitError):
        if code == "insufficient_quota":
            return rejected(
                f"{where}: the account has run out of quota.",
                code,
                "Add credit or raise the quota on the provider account, then retry.",
            )
        return ProviderTimeout(
            f"{where}: still rate-limited after retries.",
            provider=name,
            code=code or "rate_limited",
            hint="Try again in a few minutes.",
        )
    if isinstance(exc, openai.InternalServerError):
        return ProviderTimeout(
            f"{where}: the provider failed ({exc.status_code}) after retries.",
            provider=name,
            code=code or "server_error",
            hint="Try again in a few minutes.",
        )
    if isinstance(exc, openai.NotFoundError):
        return rejected(
            f"{where}: not found ({detail}).",
            code or "not_found",
            "Check the model or job id.",
            NextStep.LIST_MODELS,
        )
    return rejected(
        f"{where}: {detail}",
        code or f"http_{exc.status_code}",
        "Fix the request (dataset, model, options) and try again.",
    )


def _timed_out(exc: openai.APIConnectionError) -> bool:
    """A timeout, not a refused or reset connection.

    The aiohttp transport reports a refused connection as a connect timeout;
    the OS error underneath says which it was.
    """
    if not isinstance(exc, openai.APITimeoutError):
        return False
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionError):
            return False
        cause = cause.__cause__ or cause.__context__
    return True


def _rejection_factory(provider: str) -> Callable[..., ProviderRejected]:
    def make(
        message: str, code: str, hint: str, next_step: NextStep | None = None
    ) -> ProviderRejected:
        return ProviderRejected(
            message, provider=provider, code=code, hint=hint, next_step=next_step
        )

    return make


def _worker_base_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def _async_client(kind: type[AsyncOpenAI], options: Mapping[str, Any]) -> Callable[[], AsyncOpenAI]:
    """Makes async clients on the SDK's aiohttp transport (``openai[aiohttp]``).

    Polling is CPU-bound on this side: aiohttp parses HTTP in C, which costs
    about a third less CPU per request than httpx's pure-Python stack
    (benchmarks/progress_tick.py). The transport is made with the client, on
    the event loop that will use it.
    """
    return lambda: kind(http_client=DefaultAioHttpClient(), **options)


def build_providers(settings: Settings) -> dict[str, Provider]:
    """One :class:`Provider` per configured provider, keyed by name.

    A provider is configured when its URL/key settings are present
    (``Settings.configured_providers``); the others are left out so the bot
    only offers what works.
    """
    common: dict[str, Any] = {
        "max_retries": settings.provider_max_retries,
        "timeout": settings.provider_timeout_seconds,
    }
    providers: dict[str, Provider] = {}
    if settings.worker_url:
        key = settings.worker_api_key.get_secret_value() if settings.worker_api_key else "none"
        worker: dict[str, Any] = {
            "api_key": key,
            "base_url": _worker_base_url(settings.worker_url),
            **common,
        }
        providers["worker"] = Provider(
            name="worker", client=OpenAI(**worker), async_client=_async_client(AsyncOpenAI, worker)
        )
    if settings.openai_api_key:
        plain: dict[str, Any] = {
            "api_key": settings.openai_api_key.get_secret_value(),
            "base_url": settings.openai_base_url or None,
            **common,
        }
        providers["openai"] = Provider(
            name="openai", client=OpenAI(**plain), async_client=_async_client(AsyncOpenAI, plain)
        )
    if settings.azure_openai_endpoint and settings.azure_openai_api_key:
        azure: dict[str, Any] = {
            "azure_endpoint": settings.azure_openai_endpoint,
            "api_key": settings.azure_openai_api_key.get_secret_value(),
            "api_version": settings.openai_api_version,
            **common,
        }
        providers["azure"] = Provider(
            name="azure",
            client=AzureOpenAI(**azure),
            async_client=_async_client(AsyncAzureOpenAI, azure),
        )
    return providers
