"""``GET /healthz``: unauthenticated liveness for load balancers and the bot."""

from __future__ import annotations

from fastapi import APIRouter

from worker import __version__
from worker.deps import StateDep
from worker.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(state: StateDep) -> Health:
    return Health(
        version=__version__,
        device=state.device,
        queue_length=state.runner.queue_length(),
        running_job=state.runner.running_job_id,
        models=sorted(state.config.models),
    )
