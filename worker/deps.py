"""Dependencies shared by the routers: the worker's state and bearer-key auth.

Why ``Annotated`` aliases: every router guards itself with ``dependencies=
[Authorized]`` and asks for ``StateDep``, so auth cannot be forgotten on one
route and tests can swap either through ``app.dependency_overrides``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from worker.errors import APIError
from worker.inference import ChatBackend
from worker.runner import JobRunner
from worker.settings import WorkerConfig
from worker.store import WorkerStore


@dataclass
class WorkerState:
    config: WorkerConfig
    store: WorkerStore
    runner: JobRunner
    backend: ChatBackend
    device: str


async def get_state(request: Request) -> WorkerState:
    # async: resolved on the event loop, so /healthz never waits for a pool thread.
    state: WorkerState = request.app.state.worker
    return state


StateDep = Annotated[WorkerState, Depends(get_state)]


def require_api_key(state: StateDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """Accept ``Authorization: Bearer <TUNEBOT_WORKER_API_KEY>``; 401 otherwise."""
    expected = state.config.api_key
    if expected is None:  # --insecure-no-auth
        return
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(
            401,
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
            "(the worker's TUNEBOT_WORKER_API_KEY).",
            code="missing_api_key",
        )
    if not secrets.compare_digest(token.strip().encode(), expected.encode()):
        raise APIError(
            401,
            "Incorrect API key provided. Use the worker's TUNEBOT_WORKER_API_KEY.",
            code="invalid_api_key",
        )


Authorized = Depends(require_api_key)
