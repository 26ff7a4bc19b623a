"""URL table of the fake OpenAI API, for OpenAI's ``/v1`` and Azure's ``/openai`` paths.

Azure differs only in the prefix, the ``api-version`` query parameter, the
``api-key`` header, and chat going to ``/deployments/{deployment}/...``; the
handlers are shared so both clients see identical behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.openai_routes import ApiError

if TYPE_CHECKING:
    from tests.fakes.openai_api import FakeOpenAI, Handler

__all__ = ["build_routes"]


def build_routes(fake: FakeOpenAI, *, prefix: str, azure: bool) -> list[Route]:
    """Routes (path, verb, route name, handler) bound to ``fake``."""
    state = fake.state

    async def files_create(request: Request, params: dict[str, Any]) -> Any:
        filename, content, purpose = await fake.read_upload(request)
        return state.create_file(filename, content, purpose)

    async def files_list(request: Request, params: dict[str, Any]) -> Any:
        query = request.query_params
        return state.list_files(
            purpose=query.get("purpose"),
            after=query.get("after"),
            limit=fake.limit(request, default=100),
        )

    async def files_retrieve(request: Request, params: dict[str, Any]) -> Any:
        return dict(state.file(params["file_id"]))

    async def files_content(request: Request, params: dict[str, Any]) -> Any:
        state.file(params["file_id"])
        with state.lock:
            content = state.file_bytes[params["file_id"]]
        return Response(content, media_type="application/octet-stream")

    async def files_delete(request: Request, params: dict[str, Any]) -> Any:
        return state.delete_file(params["file_id"])

    async def jobs_create(request: Request, params: dict[str, Any]) -> Any:
        return state.create_job(await fake.read_json(request))

    async def jobs_list(request: Request, params: dict[str, Any]) -> Any:
        with state.lock:
            for job in list(state.jobs.values()):
                fake.on_access(job)
        return state.list_jobs(after=request.query_params.get("after"), limit=fake.limit(request))

    async def jobs_retrieve(request: Request, params: dict[str, Any]) -> Any:
        job = state.job(params["job_id"])
        fake.on_access(job)
        fake.on_retrieve(job)
        with state.lock:
            return job.to_dict()

    async def jobs_cancel(request: Request, params: dict[str, Any]) -> Any:
        fake.on_access(state.job(params["job_id"]))
        return state.cancel_job(params["job_id"])

    async def jobs_events(request: Request, params: dict[str, Any]) -> Any:
        fake.on_access(state.job(params["job_id"]))
        return state.job_events(
            params["job_id"], after=request.query_params.get("after"), limit=fake.limit(request)
        )

    async def jobs_checkpoints(request: Request, params: dict[str, Any]) -> Any:
        fake.on_access(state.job(params["job_id"]))
        return state.job_checkpoints(
            params["job_id"],
            after=request.query_params.get("after"),
            limit=fake.limit(request, default=10),
        )

    async def models_list(request: Request, params: dict[str, Any]) -> Any:
        with state.lock:
            return {"object": "list", "data": [dict(m) for m in state.models.values()]}

    async def models_retrieve(request: Request, params: dict[str, Any]) -> Any:
        with state.lock:
            model = state.models.get(params["model_id"])
        if model is None:
            raise ApiError(
                404,
                f"The model '{params['model_id']}' does not exist",
                param="model",
                code="model_not_found",
            )
        return dict(model)

    async def chat(request: Request, params: dict[str, Any]) -> Any:
        body = await fake.read_json(request)
        deployment = params.get("deployment")
        if deployment is not None:
            model = fake.deployments.get(deployment, deployment)
            with state.lock:
                known = model in state.models
            if not known:
                raise ApiError(
                    404,
                    "The API deployment for this resource does not exist. If you created "
                    "the deployment within the last 5 minutes, please wait a moment and try "
                    "again.",
                    code="DeploymentNotFound",
                )
        elif not body.get("model"):
            raise ApiError(
                400,
                "Missing required parameter: 'model'.",
                param="model",
                code="missing_required_parameter",
            )
        else:
            model = str(body["model"])
        params["model"] = model
        failure = fake.take_failure("chat.completions", model)
        if failure is not None:
            raise failure
        return await state.chat(body, model=model)

    table: list[tuple[str, str, str, Handler]] = [
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
    if azure:
        table.append(
            ("/deployments/{deployment}/chat/completions", "POST", "chat.completions", chat)
        )
    return [
        _route(fake, prefix + path, verb, name, handler, azure=azure)
        for path, verb, name, handler in table
    ]


def _route(
    fake: FakeOpenAI, path: str, verb: str, name: str, handler: Handler, *, azure: bool
) -> Route:
    async def endpoint(request: Request) -> Response:
        return await fake.handle(request, route=name, azure=azure, handler=handler)

    return Route(path, endpoint, methods=[verb], name=f"{name}{'.azure' if azure else ''}.{verb}")
