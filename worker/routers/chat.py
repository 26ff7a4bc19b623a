"""``POST /v1/chat/completions`` for base models and ``ft:`` adapters.

Why the precision rule: a fine-tuned model is served on its base at the
precision it was trained at (4-bit when it was trained in 4-bit), and a base
model at the worker's default training precision, so an A/B test compares the
adapter and nothing else. ``stream=true`` sends server-sent events as tokens
are generated.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from core.training.config import TrainingParams
from worker.deps import Authorized, StateDep
from worker.hf_config import uses_4bit
from worker.inference import Completion, ModelKey, adapter_key
from worker.records import JobRecord
from worker.results import job_id_from_model
from worker.routers.models import model_not_found
from worker.schemas import ChatCompletion, ChatRequest, Choice, ResponseMessage, Usage
from worker.storage import adapter_path

router = APIRouter(prefix="/v1/chat", tags=["chat"], dependencies=[Authorized])


@router.post("/completions", response_model=ChatCompletion)
def chat_completions(state: StateDep, body: ChatRequest) -> Any:
    key = _resolve(state, body.model)
    loaded = state.models.get(key)
    messages = [_message(m.role, m.content) for m in body.messages]
    options: dict[str, Any] = {
        "max_tokens": body.max_completion_tokens or body.max_tokens,
        "temperature": body.temperature,
        "seed": body.seed,
    }
    if body.stream:
        pieces = loaded.stream(messages, **options)  # input errors raise here, as a 400
        return StreamingResponse(_sse(body.model, pieces), media_type="text/event-stream")
    return _response(body.model, loaded.complete(messages, **options))


def _resolve(state: StateDep, model: str) -> ModelKey:
    base = state.config.models.get(model)
    if base is not None:
        return ModelKey(base, uses_4bit(TrainingParams(), state.device))
    job_id = job_id_from_model(model)
    job = state.store.get(JobRecord, job_id) if job_id else None
    if job is None or job.status != "succeeded" or job.fine_tuned_model != model:
        raise model_not_found(state, model)
    return adapter_key(adapter_path(state.config, job.id))


def _message(role: str, content: str | list[dict[str, Any]] | None) -> dict[str, str]:
    if isinstance(content, list):  # content parts: keep the text ones
        content = "".join(str(part.get("text", "")) for part in content)
    return {"role": "system" if role == "developer" else role, "content": content or ""}


def _response(model: str, completion: Completion) -> ChatCompletion:
    usage = Usage(
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        total_tokens=completion.prompt_tokens + completion.completion_tokens,
    )
    return ChatCompletion(
        id=f"chatcmpl-{secrets.token_hex(12)}",
        created=int(time.time()),
        model=model,
        choices=[
            Choice(
                message=ResponseMessage(content=completion.text),
                finish_reason=completion.finish_reason,  # type: ignore[arg-type]
            )
        ],
        usage=usage,
    )


def _sse(model: str, pieces: Iterator[str | Completion]) -> Iterator[str]:
    """OpenAI's ``chat.completion.chunk`` events; usage rides on the last chunk."""
    common = {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    role_sent = False
    for piece in pieces:
        if isinstance(piece, Completion):
            usage = _response(model, piece).usage.model_dump()
            choice = {"index": 0, "delta": {}, "finish_reason": piece.finish_reason}
            yield _event({**common, "choices": [choice], "usage": usage})
            break
        delta = {"content": piece} if role_sent else {"role": "assistant", "content": piece}
        role_sent = True
        yield _event({**common, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    yield "data: [DONE]\n\n"


def _event(chunk: dict[str, Any]) -> str:
    return f"data: {json.dumps(chunk)}\n\n"
