"""``GET /healthz``: unauthenticated liveness for load balancers and the bot.

Why ``async``: it runs on the event loop, not in the thread pool that sync
routes share, so it answers while chats and uploads queue. Why counts only:
it needs no key, so it shows nothing that names a job, a file or a user.
"""

from __future__ import annotations

from fastapi import APIRouter

from worker import __version__
from worker.deps import StateDep
from worker.schemas import Health, Serving

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz(state: StateDep) -> Health:
    counters = state.backend.counters
    with counters.lock:
        totals = {
            "generated_tokens": counters.generated_tokens,
            "cancelled_requests": counters.cancelled_requests,
            "batches": counters.batches,
            "largest_batch": counters.largest_batch,
        }
    return Health(
        version=__version__,
        device=state.device,
        queue_length=state.runner.queue_length(),
        training=state.runner.running_job_id is not None,
        models=sorted(state.config.models),
        serving=Serving(
            backend=state.backend.name,
            max_batch_size=state.config.max_batch_size,
            **state.backend.load(),
            **totals,
        ),
    )
