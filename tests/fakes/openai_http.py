"""URL table and request plumbing of the fake OpenAI API.

OpenAI's ``/v1`` and Azure's ``/openai`` paths share the handlers; Azure
differs only in the ``api-version`` query parameter, the ``api-key`` header
and chat going to ``/deployments/{deployment}/chat/completions``, so both
clients see identical behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.openai_chat import chat_completion
from tests.fakes.openai_state import ApiError, missing_parameter, parse_limit

if TYPE_CHECKING:
    from tests.fakes.openai_api import FakeOpenAI

__all__ = ["Handler", "auth_error", "build_routes"]

Handler = Callable[[Request, dict[str, Any]], Awaitable[Any]]
_AZURE_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide "
    "a valid key for an active subscription and use a correct regional API endpoint for your "
    "resource."
)
_NO_DEPLOYMENT = (
    "The API deployment for this resource does not exist. If you created the deployment within the "
    "last 5 minutes, please wait a moment and try again."
)


def auth_error(request: Request, *, api_key: str, azure: bool) -> ApiError | None:
    """OpenAI's (or Azure's) 401/404 for a request without the right key, else None."""
    header = request.headers.get("authorization", "")
    bearer = header[len("Bearer ") :] if header.startswith("Bearer ") else None
    if azure:
        if "api-version" not in request.query_params:
            return ApiError(404, "Resource not found", code="404")
        if request.headers.get("api-key", bearer) != api_key:
            return ApiError(401, _AZURE_DENIED, code="401")
        return None
    if bearer is None:
        return ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    if bearer != api_key:
        shown = f"{bearer[:3]}*****{bearer[-4:]}" if len(bearer) > 8 else bearer
        return ApiError(
            401,
            f"Incorrect API key provided: {shown}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    return None


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        raise ApiError(400, "We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def _limit(request: Request, *, default: int = 20) -> int:
    return parse_limit(request.query_params.get("limit"), default=default)


# ---- files ----------------------------------------------------------------------
async def files_create(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    # The form owns spooled temp files for the upload: close them when done.
    async with request.form() as form:
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise missing_parameter("file")
        if not isinstance(purpose, str) or not purpose:
            raise missing_parameter("purpose")
        content = await upload.read()
    # Azure imports uploads asynchronously ("pending" first); OpenAI answers "processed".
    pending = fake.azure_file_processing_retrieves if request.url.path.startswith("/openai/") else 0
    return fake.state.create_file(
        upload.filename or "upload", content, purpose, pending_retrieves=pending
    )


async def files_list(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    query = request.query_params
    return fake.state.list_files(
        purpose=query.get("purpose"), after=query.get("after"), limit=_limit(request, default=100)
    )


async def files_retrieve(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    return fake.state.retrieve_file(params["file_id"])


async def files_content(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    fake.state.file(params["file_id"])
    with fake.state.lock:
        content = fake.state.file_bytes[params["file_id"]]
    return Response(content, media_type="application/octet-stream")


async def files_delete(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    return fake.state.delete_file(params["file_id"])


# ---- fine-tuning jobs ---------------------------------------------------------------
async def jobs_create(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    created = fake.state.create_job(await _json(request))
    fake.on_access(fake.state.job(created["id"]))  # in clock mode, time runs from creation
    return created


async def jobs_list(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    with fake.state.lock:
        for job in list(fake.state.jobs.values()):
            fake.on_access(job)
    return fake.state.list_jobs(after=request.query_params.get("after"), limit=_limit(request))


async def jobs_retrieve(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    job = fake.state.job(params["job_id"])
    fake.on_access(job)
    fake.on_retrieve(job)
    with fake.state.lock:
        return job.to_dict()


async def jobs_cancel(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    fake.on_access(fake.state.job(params["job_id"]))
    return fake.state.cancel_job(params["job_id"])


async def jobs_events(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    fake.on_access(fake.state.job(params["job_id"]))
    return fake.state.job_events(
        params["job_id"], after=request.query_params.get("after"), limit=_limit(request)
    )


async def jobs_checkpoints(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    fake.on_access(fake.state.job(params["job_id"]))
    return fake.state.job_checkpoints(
        params["job_id"], after=request.query_params.get("after"), limit=_limit(request, default=10)
    )


# ---- models and chat ------------------------------------------------------------------
async def models_list(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    with fake.state.lock:
        return {"object": "list", "data": [dict(m) for m in fake.state.models.values()]}


async def models_retrieve(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    with fake.state.lock:
        model = fake.state.models.get(params["model_id"])
    if model is None:
        raise ApiError(
            404,
            f"The model '{params['model_id']}' does not exist",
            param="model",
            code="model_not_found",
        )
    return dict(model)


async def chat(fake: FakeOpenAI, request: Request, params: dict[str, Any]) -> Any:
    body = await _json(request)
    deployment = params.get("deployment")
    if deployment is not None:
        model = fake.deployments.get(deployment, deployment)
        with fake.state.lock:
            if model not in fake.state.models:
                raise ApiError(404, _NO_DEPLOYMENT, code="DeploymentNotFound")
    elif not body.get("model"):
        raise missing_parameter("model")
    else:
        model = str(body["model"])
    params["model"] = model  # recorded in the request log
    failure = fake.faults.take("chat.completions", model)
    if failure is not None:
        raise failure
    return await chat_completion(fake.state, body, model=model)


_TABLE: list[tuple[str, str, str, Callable[..., Awaitable[Any]]]] = [
    ("/files", "POST", "files.create", files_create),
    ("/files", "GET", "files.list", files_list),
    ("/files/{file_id}", "GET", "files.retrieve", files_retrieve),
    ("/files/{file_id}", "DELETE", "files.delete", files_delete),
    ("/files/{file_id}/content", "GET", "files.content", files_content),
    ("/fine_tuning/jobs", "POST", "jobs.create", jobs_create),
    ("/fine_tuning/jobs", "GET", "jobs.list", jobs_list),
    ("/fine_tuning/jobs/{job_id}", "GET", "jobs.retrieve", jobs_retrieve),
    ("/fine_tuning/jobs/{job_id}/cancel", "POST", "jobs.cancel", jobs_cancel),
    ("/fine_tuning/jobs/{job_id}/events", "GET", "jobs.events", jobs_events),
    ("/fine_tuning/jobs/{job_id}/checkpoints", "GET", "jobs.checkpoints", jobs_checkpoints),
    ("/models", "GET", "models.list", models_list),
    ("/models/{model_id:path}", "GET", "models.retrieve", models_retrieve),
    ("/chat/completions", "POST", "chat.completions", chat),
]
_AZURE_ONLY = [("/deployments/{deployment}/chat/completions", "POST", "chat.completions", chat)]


def build_routes(fake: FakeOpenAI) -> list[Route]:
    """Routes for ``/v1`` (OpenAI) and ``/openai`` (Azure), each through ``fake.handle``."""
    routes = []
    for prefix, azure, table in (("/v1", False, _TABLE), ("/openai", True, _TABLE + _AZURE_ONLY)):
        for path, verb, name, handler in table:
            endpoint = _endpoint(fake, name=name, azure=azure, handler=partial(handler, fake))
            routes.append(
                Route(prefix + path, endpoint, methods=[verb], name=f"{prefix}:{name}:{verb}")
            )
    return routes


def _endpoint(
    fake: FakeOpenAI, *, name: str, azure: bool, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    # A plain function (not a partial): starlette treats anything else as a raw ASGI app.
    async def endpoint(request: Request) -> Response:
        return await fake.handle(request, route=name, azure=azure, handler=handler)

    return endpoint
