"""Build the worker's FastAPI app and serve it with uvicorn.

Why a factory: tests and ``tunebot worker`` build the same app from a
``WorkerConfig``; the lifespan starts the job runner (which resumes
interrupted jobs) and stops it so a running job checkpoints on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from worker import __version__
from worker.deps import WorkerState
from worker.errors import install_error_handlers
from worker.hf_config import resolve_device
from worker.inference import ModelCache
from worker.routers import chat, files, fine_tuning, health, metrics, models
from worker.runner import JobRunner
from worker.settings import WorkerConfig
from worker.store import WorkerStore

logger = logging.getLogger(__name__)


def create_app(config: WorkerConfig) -> FastAPI:
    """The worker app for ``config``; the runner starts with the server."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        store = WorkerStore(config.data_dir)
        device = resolve_device(config.device)
        runner = JobRunner(store, config)
        cache = ModelCache(capacity=config.loaded_models, device=device)
        app.state.worker = WorkerState(config, store, runner, cache, device)
        runner.start()
        logger.info("worker ready on %s with models %s", device, ", ".join(config.models))
        try:
            yield
        finally:
            runner.shutdown()

    app = FastAPI(title="tunebot worker", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    for module in (health, metrics, files, fine_tuning, models, chat):
        app.include_router(module.router)
    return app


def serve(config: WorkerConfig, *, host: str, port: int, log_level: str = "info") -> None:
    """Run the app until interrupted (SIGINT/SIGTERM trigger a clean shutdown)."""
    import uvicorn

    # log_config=None: uvicorn keeps the handler core.logs installed (JSON lines,
    # secrets redacted) instead of replacing it with its own text format.
    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level, log_config=None)
