"""``FakeOpenAI``: a fake of OpenAI's fine-tuning, files, models and chat API on loopback.

Why: the bot drives OpenAI, Azure OpenAI and the worker with the real
``openai`` SDK; pointing that SDK at this server (``base_url=fake.base_url``,
or ``AzureOpenAI(azure_endpoint=fake.azure_endpoint, ...)``) exercises its
real retries (429 + ``Retry-After``, 5xx), error classes and pagination, while
jobs follow a deterministic script (:class:`JobScript`) and every request is
counted for "API calls per tick" assertions.

Example::

    with FakeOpenAI() as fake:
        client = OpenAI(api_key=fake.api_key, base_url=fake.base_url)
        f = client.files.create(file=("d.jsonl", b'{"messages": []}\\n'), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id)
        while client.fine_tuning.jobs.retrieve(job.id).status != "succeeded":
            pass  # each retrieve advances the job one stage by default
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal, NamedTuple, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.fakeslack.server import LoopbackFake, LoopbackServer
from bot.fakeslack.waiting import wait_for
from tests.fakes.openai_faults import OpenAIFaults
from tests.fakes.openai_http import Handler, auth_error, build_routes
from tests.fakes.openai_jobs import FakeJob, JobScript
from tests.fakes.openai_state import (
    DEFAULT_CHAT_MODELS,
    DEFAULT_FINE_TUNABLE,
    PERMISSION_DENIED_MESSAGE,
    ApiError,
    OpenAIState,
    Responder,
)

__all__ = ["FakeOpenAI", "JobScript", "OpenAIRequest"]

T = TypeVar("T")
Advance = Literal["retrieve", "manual", "clock"]


class OpenAIRequest(NamedTuple):
    """One request as the fake saw it; ``start``/``end`` let tests check concurrency."""

    route: str
    method: str
    path: str
    status: int
    start: float
    end: float
    job_id: str | None
    model: str | None
    azure: bool


class FakeOpenAI(LoopbackFake):
    """A fake OpenAI API server. Use as a context manager or call start()/stop().

    Parameters
    ----------
    api_key:
        The only key accepted (``Authorization: Bearer`` on ``/v1``; ``api-key``
        header or Bearer on Azure's ``/openai`` paths).
    organization:
        Organization id used in job objects and ``ft:`` model names.
    advance:
        What moves jobs: ``"retrieve"`` (every ``retrieves_per_tick`` retrieves
        of that job, the default: polling tests run fast), ``"manual"`` (only
        :meth:`advance`), ``"clock"`` (one tick per ``seconds_per_tick``).
    latency:
        Seconds added to every request (``asyncio.sleep``: concurrent requests
        overlap, as they would against the real API).
    fine_tunable:
        Model name -> snapshot the job reports; other models get ``model_not_available``.
    azure_file_processing_retrieves:
        Files uploaded through Azure's paths read ``"pending"`` until retrieved
        this many times (Azure imports asynchronously); a job on a pending file
        is refused. OpenAI's ``/v1`` answers ``"processed"`` at once.
    """

    def __init__(
        self,
        *,
        api_key: str = "sk-fake-test-key",
        organization: str = "org-tunebot",
        advance: Advance = "retrieve",
        retrieves_per_tick: int = 1,
        seconds_per_tick: float = 0.1,
        latency: float = 0.0,
        fine_tunable: dict[str, str] | None = None,
        chat_models: tuple[str, ...] = DEFAULT_CHAT_MODELS,
        azure_file_processing_retrieves: int = 1,
    ) -> None:
        self.api_key = api_key
        self.azure_file_processing_retrieves = azure_file_processing_retrieves
        self.advance_mode: Advance = advance
        self.retrieves_per_tick = retrieves_per_tick
        self.seconds_per_tick = seconds_per_tick
        self.latency = latency
        self.state = OpenAIState(
            organization=organization,
            fine_tunable=fine_tunable or DEFAULT_FINE_TUNABLE,
            chat_models=chat_models,
        )
        self.faults = OpenAIFaults()
        self._requests: list[OpenAIRequest] = []
        self._retrieves: Counter[str] = Counter()
        self._last_tick: dict[str, float] = {}
        self.deployments: dict[str, str] = {}
        self._server = LoopbackServer(self._app(), name="fake-openai")

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: for ``OpenAI(base_url=...)`` / OPENAI_BASE_URL."""
        return f"{self._server.url}/v1"

    @property
    def azure_endpoint(self) -> str:
        """For ``AzureOpenAI(azure_endpoint=..., api_version=...)``: paths ``/openai/...``."""
        return self._server.url

    def env(self, *, azure: bool = False) -> dict[str, str]:
        """Environment for a bot process: OPENAI_* (or AZURE_OPENAI_* with ``azure=True``)."""
        if azure:
            return {
                "AZURE_OPENAI_ENDPOINT": self.azure_endpoint,
                "AZURE_OPENAI_API_KEY": self.api_key,
                "OPENAI_API_VERSION": "2024-10-21",
            }
        return {"OPENAI_API_KEY": self.api_key, "OPENAI_BASE_URL": self.base_url}

    # ---- scripting ---------------------------------------------------------
    def script_jobs(self, script: JobScript | None = None, **fields: Any) -> None:
        """Set the script of every job created from now on (``script_jobs(outcome="failed")``)."""
        with self.state.lock:
            self.state.default_script = replace(script or JobScript(), **fields)

    def script_next_job(self, script: JobScript | None = None, **fields: Any) -> None:
        """Queue a script for the next created job only (FIFO when called several times)."""
        with self.state.lock:
            self.state.next_scripts.append(replace(script or JobScript(), **fields))

    def deny_job_creation(self, message: str | None = PERMISSION_DENIED_MESSAGE) -> None:
        """Answer job creation with 403 (``openai.PermissionDeniedError``); None re-allows it."""
        with self.state.lock:
            self.state.permission_denied = message

    @property
    def permission_denied_on_create(self) -> bool:
        """True while job creation answers 403 (set it, or call :meth:`deny_job_creation`)."""
        return self.state.permission_denied is not None

    @permission_denied_on_create.setter
    def permission_denied_on_create(self, value: bool) -> None:
        self.deny_job_creation(PERMISSION_DENIED_MESSAGE if value else None)

    def advance(self, job_id: str, ticks: int = 1) -> dict[str, Any]:
        """Move a job ``ticks`` stages/steps forward now; returns the job object."""
        job = self.state.job(job_id)
        self.state.tick(job, ticks)
        return job.to_dict()

    def run_to_end(self, job_id: str) -> dict[str, Any]:
        """Tick a job until it is final (succeeded, failed or cancelled)."""
        job = self.state.job(job_id)
        while not job.is_final:
            self.state.tick(job)
        return job.to_dict()

    def cancel_externally(self, job_id: str) -> None:
        """Cancel as if someone did it in OpenAI's dashboard."""
        with self.state.lock:
            self.state.job(job_id).cancel()

    def set_responder(self, model: str, fn: Responder | None = None, *, delay: float = 0.0) -> None:
        """Answer chat completions for ``model`` with ``fn(messages, request_body) -> str``.

        ``delay`` seconds are awaited per request (concurrent requests overlap).
        The model becomes known (``/models``) if it was not.
        """
        with self.state.lock:
            self.state.responders[model] = (fn, delay)
            if model not in self.state.models:
                self.state.add_model(model, owned_by=self.state.organization)

    def add_model(self, model_id: str, *, owned_by: str = "system") -> None:
        """Make a model servable (``/models``, chat) without a job."""
        with self.state.lock:
            self.state.add_model(model_id, owned_by=owned_by)

    # ---- failure injection -------------------------------------------------
    def fail_next(
        self,
        route: str,
        *,
        status: int = 500,
        times: int = 1,
        retry_after: float | None = None,
        job_id: str | None = None,
        model: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        """Make the next ``times`` requests to ``route`` fail with ``status``.

        Routes: files.create, files.list, files.retrieve, files.content, files.delete,
        jobs.create, jobs.list, jobs.retrieve, jobs.cancel, jobs.events,
        jobs.checkpoints, models.list, models.retrieve, chat.completions.
        ``job_id``/``model`` restrict it to one job / one chat model. 429 sends
        ``Retry-After`` (and ``retry-after-ms``) when ``retry_after`` is given.
        """
        self.faults.fail_next(
            route,
            status=status,
            times=times,
            retry_after=retry_after,
            target=job_id or model,
            error=error,
        )

    def fail_for(self, seconds: float, *, route: str | None = None, status: int = 503) -> None:
        """An outage: every request (or every request to ``route``) fails for ``seconds``."""
        self.faults.fail_for(seconds, route=route, status=status)

    # ---- inspection --------------------------------------------------------
    def wait_for(
        self,
        predicate: Callable[[], T],
        *,
        timeout: float = 5.0,
        interval: float = 0.02,
        message: str = "condition",
    ) -> T:
        """Poll ``predicate`` until truthy; return its value. Times out listing requests seen."""

        def seen() -> str:
            return f"OpenAI requests: {[(r.route, r.status) for r in self.requests()]}"

        return wait_for(
            predicate, timeout=timeout, interval=interval, message=message, describe=seen
        )

    def requests(
        self, route: str | None = None, *, job_id: str | None = None
    ) -> list[OpenAIRequest]:
        """Requests received (including failed ones), oldest first."""
        with self.state.lock:
            return [
                r for r in self._requests if route in (None, r.route) and job_id in (None, r.job_id)
            ]

    def request_counts(self) -> Counter[str]:
        """Requests per route name."""
        with self.state.lock:
            return Counter(r.route for r in self._requests)

    def reset_requests(self) -> None:
        with self.state.lock:
            self._requests.clear()

    def job(self, job_id: str) -> dict[str, Any]:
        """The job object as the API would return it (without advancing it)."""
        with self.state.lock:
            return self.state.job(job_id).to_dict()

    def jobs(self) -> list[dict[str, Any]]:
        """All jobs, oldest first."""
        with self.state.lock:
            return [j.to_dict() for j in self.state.jobs.values()]

    def events(self, job_id: str) -> list[dict[str, Any]]:
        """A job's events, oldest first."""
        with self.state.lock:
            return [dict(e) for e in self.state.job(job_id).events]

    def files(self, purpose: str | None = None) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(f) for f in self.state.files.values() if purpose in (None, f["purpose"])]

    def file_content(self, file_id: str) -> bytes:
        with self.state.lock:
            return self.state.file_bytes[file_id]

    # ---- HTTP layer ----------------------------------------------------------
    def _app(self) -> Starlette:
        return Starlette(routes=build_routes(self))

    async def handle(
        self, request: Request, *, route: str, azure: bool, handler: Handler
    ) -> Response:
        """Common path: latency, auth, injected failures, the handler, and the request log."""
        start = time.time()
        params = dict(request.path_params)
        job_id = params.get("job_id")
        model: str | None = params.get("deployment") or params.get("model_id")
        if self.latency:
            await asyncio.sleep(self.latency)
        error = auth_error(request, api_key=self.api_key, azure=azure) or self.faults.take(
            route, job_id
        )
        response: Response
        if error is None:
            try:
                body = await handler(request, params)
                response = JSONResponse(body) if not isinstance(body, Response) else body
            except ApiError as exc:
                error = exc
        if error is not None:
            response = JSONResponse(error.body, status_code=error.status, headers=error.headers)
        model = params.get("model", model)
        with self.state.lock:
            self._requests.append(
                OpenAIRequest(
                    route,
                    request.method,
                    request.url.path,
                    response.status_code,
                    start,
                    time.time(),
                    job_id,
                    model,
                    azure,
                )
            )
        return response

    # ---- job advancement ------------------------------------------------------
    def on_retrieve(self, job: FakeJob) -> None:
        if self.advance_mode == "retrieve":
            with self.state.lock:
                self._retrieves[job.id] += 1
                if self._retrieves[job.id] % self.retrieves_per_tick == 0:
                    self.state.tick(job)

    def on_access(self, job: FakeJob) -> None:
        if self.advance_mode != "clock":
            return
        with self.state.lock:
            now = time.monotonic()
            last = self._last_tick.setdefault(job.id, now)
            due = int((now - last) / self.seconds_per_tick)
            if due:
                self._last_tick[job.id] = last + due * self.seconds_per_tick
                self.state.tick(job, due)
