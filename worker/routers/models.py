"""``/v1/models``: the base models this worker serves, its finished fine-tunes and
their checkpoints (``ft:...:ckpt-step-N``, as OpenAI lists them)."""

from __future__ import annotations

from fastapi import APIRouter

from worker.deps import Authorized, StateDep
from worker.errors import APIError
from worker.model_ids import checkpoint_model_name, job_checkpoints
from worker.schemas import ListPage, ModelObject

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Authorized])

OWNER = "tunebot-worker"


def served_models(state: StateDep) -> list[ModelObject]:
    started = state.config.started_at
    models = [
        ModelObject(id=name, created=started, owned_by=OWNER, root=path)
        for name, path in state.config.models.items()
    ]
    for job in state.store.finished_models():
        if job.fine_tuned_model:
            created = job.finished_at or job.created_at
            models.append(ModelObject(id=job.fine_tuned_model, created=created, owned_by="user"))
            for step, record in sorted(job_checkpoints(state.store, job).items()):
                name = checkpoint_model_name(job.fine_tuned_model, step)
                models.append(ModelObject(id=name, created=record.created_at, owned_by="user"))
    return models


@router.get("", response_model=ListPage[ModelObject])
def list_models(state: StateDep) -> ListPage[ModelObject]:
    return ListPage[ModelObject](data=served_models(state))


@router.get("/{model_id:path}", response_model=ModelObject)
def retrieve_model(state: StateDep, model_id: str) -> ModelObject:
    for model in served_models(state):
        if model.id == model_id:
            return model
    raise model_not_found(state, model_id)


def model_not_found(state: StateDep, model_id: str) -> APIError:
    names = ", ".join(sorted(state.config.models))
    return APIError(
        404,
        f"The model {model_id!r} does not exist on this worker. Base models: {names}; "
        "fine-tuned models are listed by GET /v1/models.",
        param="model",
        code="model_not_found",
    )
