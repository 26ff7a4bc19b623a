"""Build the worker's FastAPI app and serve it with uvicorn.

Why a factory: tests and ``tunebot worker`` build the same app from a
``WorkerConfig``; the lifespan starts the job runner (which resumes
interrupted jobs) and the chat backend, and stops them so a running job
checkpoints on shutdown.

Why the docs need the key: the OpenAPI schema maps every route and parameter
for whoever can reach the port; ``--docs`` opens them for a trusted network.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from core.training.config import TrainingParams
from worker import __version__
from worker.body_limit import BodyLimit
from worker.deps import Authorized, WorkerState
from worker.errors import install_error_handlers
from worker.hf_config import resolve_device, uses_4bit
from worker.inference import ChatBackend, HFBackend, ModelCache
from worker.routers import chat, files, fine_tuning, health, metrics, models
from worker.runner import JobRunner
from worker.settings import WorkerConfig
from worker.store import WorkerStore

logger = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"


def create_app(config: WorkerConfig) -> FastAPI:
    """The worker app for ``config``; the runner and backend start with the server."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        store = WorkerStore(config.data_dir)
        device = resolve_device(config.device)
        backend = build_backend(config, device)
        runner = JobRunner(store, config)
        app.state.worker = WorkerState(config, store, runner, backend, device)
        runner.start()
        logger.info(
            "worker ready on %s with models %s (serving: %s, batches up to %d)",
            device,
            ", ".join(config.models),
            backend.name,
            config.max_batch_size,
        )
        try:
            yield
        finally:
            runner.shutdown()
            backend.close()

    app = FastAPI(
        title="tunebot worker",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if config.docs else None,
        redoc_url="/redoc" if config.docs else None,
        openapi_url="/openapi.json" if config.docs else None,
    )
    install_error_handlers(app)
    for module in (health, metrics, files, fine_tuning, models, chat):
        app.include_router(module.router)
    if not config.docs:
        _keyed_docs(app)
    app.add_middleware(
        BodyLimit,
        paths=frozenset({CHAT_PATH}),
        max_bytes=config.max_chat_bytes,
        setting="TUNEBOT_WORKER_MAX_CHAT_BYTES (--max-chat-bytes)",
    )
    return app


def build_backend(config: WorkerConfig, device: str) -> ChatBackend:
    """The chat backend chosen at startup (``--serve-backend``)."""
    if config.serve_backend == "vllm":
        from worker.inference.vllm_backend import VLLMBackend

        backend = VLLMBackend(
            config.models.values(),
            load_in_4bit=uses_4bit(TrainingParams(), device),
            max_batch_size=config.max_batch_size,
        )
        backend.start()
        return backend
    cache = ModelCache(
        capacity=config.loaded_models, device=device, max_batch_size=config.max_batch_size
    )
    return HFBackend(cache)


def _keyed_docs(app: FastAPI) -> None:
    """``/openapi.json`` and ``/docs`` behind the API key.

    A browser cannot add the bearer header to the page's own fetch of the
    schema, so the keyed ``/docs`` page carries the schema inline.
    """

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Authorized])
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False, dependencies=[Authorized])
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="",
            title=f"{app.title} - docs",
            swagger_ui_parameters={"spec": app.openapi()},
        )


def serve(config: WorkerConfig, *, host: str, port: int, log_level: str = "info") -> None:
    """Run the app until interrupted (SIGINT/SIGTERM trigger a clean shutdown)."""
    import uvicorn

    # log_config=None: uvicorn keeps the handler core.logs installed (JSON lines,
    # secrets redacted) instead of replacing it with its own text format.
    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level, log_config=None)
