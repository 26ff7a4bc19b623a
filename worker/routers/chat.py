"""``POST /v1/chat/completions`` for base models and ``ft:`` adapters.

Why the precision rule: a fine-tuned model is served on its base at the
precision it was trained at (4-bit when it was trained in 4-bit), and a base
model at the worker's default training precision, so an A/B test compares the
adapter and nothing else.

Why nothing is ignored: a client that sends ``tools`` or ``response_format``
and gets a plain answer back cannot tell it was dropped, so every parameter
the worker does not honour is refused with a 400 that names it.

Why the route is ``async``: waiting for tokens holds no thread, so a queue of
chats cannot starve ``/healthz`` or file uploads of the thread pool; and a
client that disconnects (stream or not) cancels its generation, which frees
its place in the batch at the next step.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from core.training.config import TrainingParams
from worker.deps import Authorized, StateDep, WorkerState
from worker.errors import APIError
from worker.hf_config import uses_4bit
from worker.inference import (
    DEFAULT_MAX_TOKENS,
    Cancelled,
    Completion,
    Generation,
    ModelKey,
    Sampling,
    TokenLogprob,
)
from worker.inference.generation import MAX_STOP_SEQUENCES
from worker.model_ids import finished_job, resolve_adapter, split_checkpoint
from worker.routers.models import model_not_found
from worker.schemas import (
    ChatCompletion,
    ChatMessage,
    ChatRequest,
    Choice,
    ChoiceLogprobs,
    ResponseMessage,
    TokenLogprobItem,
    TopLogprobItem,
    Usage,
)
from worker.storage import adapter_path

router = APIRouter(prefix="/v1/chat", tags=["chat"], dependencies=[Authorized])

HONOURED = frozenset(ChatRequest.model_fields)
CLIENT_CLOSED_REQUEST = 499
MESSAGE_KEYS = frozenset(ChatMessage.model_fields)


@router.post("/completions", response_model=ChatCompletion)
async def chat_completions(request: Request, state: StateDep, body: ChatRequest) -> Any:
    sampling = _sampling(body)
    messages = [_message(i, m) for i, m in enumerate(body.messages)]
    key = await asyncio.to_thread(_resolve, state, body.model)
    generation = await state.backend.open(key, messages, sampling, stream=body.stream)
    if body.stream:
        usage = body.stream_options is None or body.stream_options.include_usage
        events = _sse(body.model, generation, include_usage=usage)
        return StreamingResponse(events, media_type="text/event-stream")
    try:
        completion = await _until_done(generation, request)
    except Cancelled:  # the client left; nobody reads this (nginx's "client closed request")
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return _response(body.model, completion)


def _sampling(body: ChatRequest) -> Sampling:
    """The request's generation options, or a 400 naming what the worker won't honour."""
    if body.model_extra:
        name = sorted(body.model_extra)[0]
        raise APIError(
            400,
            f"The worker does not support {name!r}; it answers plain chat with: "
            f"{', '.join(sorted(HONOURED))}. Remove {name!r} from the request.",
            param=name,
            code="unsupported_parameter",
        )
    if body.n != 1:
        raise APIError(
            400,
            "The worker returns one choice per request (n must be 1); send n requests instead.",
            param="n",
            code="unsupported_parameter",
        )
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    if len(stop) > MAX_STOP_SEQUENCES or not all(stop):
        raise APIError(
            400,
            f"'stop' takes up to {MAX_STOP_SEQUENCES} non-empty strings.",
            param="stop",
        )
    if body.top_logprobs is not None and not body.logprobs:
        raise APIError(400, "'top_logprobs' needs 'logprobs': true as well.", param="top_logprobs")
    return Sampling(
        max_tokens=body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS,
        temperature=body.temperature,
        top_p=body.top_p,
        seed=body.seed,
        stop=stop,
        logprobs=body.logprobs,
        top_logprobs=body.top_logprobs or 0,
    )


def _message(index: int, message: ChatMessage) -> dict[str, str]:
    """A message as the chat template takes it; parts other than text are refused."""
    if message.model_extra:
        name = sorted(message.model_extra)[0]
        raise APIError(
            400,
            f"messages[{index}].{name} is not supported by the worker "
            f"(messages take {', '.join(sorted(MESSAGE_KEYS))}).",
            param=f"messages[{index}].{name}",
            code="unsupported_parameter",
        )
    content = message.content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise APIError(
                    400,
                    f"messages[{index}].content[{j}] is not a text part; the worker's models "
                    "read text only ({'type': 'text', 'text': ...}).",
                    param=f"messages[{index}].content[{j}].type",
                    code="unsupported_parameter",
                )
            texts.append(part["text"])
        content = "".join(texts)
    role = "system" if message.role == "developer" else message.role
    return {"role": role, "content": content or ""}


def _resolve(state: WorkerState, model: str) -> ModelKey:
    base = state.config.models.get(model)
    if base is not None:
        return ModelKey(base, uses_4bit(TrainingParams(), state.device))
    job = finished_job(state.store, split_checkpoint(model)[0])
    if job is not None:  # with object storage, download the adapter before serving it
        adapter_path(state.config, job.id)
    key = resolve_adapter(state.store, state.config.jobs_dir, model)
    if key is None:
        raise model_not_found(state, model)
    return key


async def _until_done(generation: Generation, request: Request) -> Completion:
    """The completion; a client that hangs up first cancels the generation."""

    async def watch_disconnect() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        generation.cancel()

    watcher = asyncio.create_task(watch_disconnect())
    try:
        async for event in generation.events():
            if isinstance(event, Completion):
                return event
        raise RuntimeError("the generation ended without a completion")
    finally:
        watcher.cancel()
        generation.cancel()  # a no-op once finished; stops the work on any error


def _response(model: str, completion: Completion) -> ChatCompletion:
    return ChatCompletion(
        id=f"chatcmpl-{secrets.token_hex(12)}",
        created=int(time.time()),
        model=model,
        choices=[
            Choice(
                message=ResponseMessage(content=completion.text),
                # Backends finish only with "stop" or "length"; Completion keeps it as str.
                finish_reason=completion.finish_reason,  # type: ignore[arg-type]
                logprobs=_logprobs(completion.logprobs),
            )
        ],
        usage=_usage(completion),
    )


def _usage(completion: Completion) -> Usage:
    return Usage(
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        total_tokens=completion.prompt_tokens + completion.completion_tokens,
    )


def _logprobs(tokens: tuple[TokenLogprob, ...] | None) -> ChoiceLogprobs | None:
    if tokens is None:
        return None
    return ChoiceLogprobs(
        content=[
            TokenLogprobItem(
                token=t.token,
                logprob=t.logprob,
                bytes=t.bytes,
                top_logprobs=[
                    TopLogprobItem(token=top.token, logprob=top.logprob, bytes=top.bytes)
                    for top in t.top_logprobs
                ],
            )
            for t in tokens
        ]
    )


async def _sse(model: str, generation: Generation, *, include_usage: bool) -> AsyncIterator[str]:
    """OpenAI's ``chat.completion.chunk`` events; usage rides on the last chunk.

    Starlette stops iterating when the client disconnects; ``finally`` then
    cancels the generation so it stops at the next step.
    """
    common = {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    role_sent = False
    try:
        async for event in generation.events():
            if isinstance(event, Completion):
                choice: dict[str, Any] = {
                    "index": 0,
                    "delta": {},
                    "finish_reason": event.finish_reason,
                }
                if event.logprobs:
                    choice["logprobs"] = _chunk_logprobs(event.logprobs)
                last: dict[str, Any] = {**common, "choices": [choice]}
                if include_usage:
                    last["usage"] = _usage(event).model_dump()
                yield _event(last)
                break
            delta = {"content": event.text}
            if not role_sent:
                delta = {"role": "assistant", **delta}
                role_sent = True
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            if event.logprobs:
                choice["logprobs"] = _chunk_logprobs(event.logprobs)
            yield _event({**common, "choices": [choice]})
        yield "data: [DONE]\n\n"
    except Cancelled:
        return
    except Exception as exc:  # headers are sent: report in the stream, as OpenAI does
        message = str(exc) if isinstance(exc, APIError) else "The worker hit an internal error."
        yield _event({"error": {"message": message, "type": "server_error"}})
    finally:
        generation.cancel()


def _chunk_logprobs(tokens: tuple[TokenLogprob, ...]) -> dict[str, Any]:
    found = _logprobs(tokens)
    return found.model_dump() if found else {"content": None, "refusal": None}


def _event(chunk: dict[str, Any]) -> str:
    return f"data: {json.dumps(chunk)}\n\n"
