"""Chat completions of the fake OpenAI API.

Why per-model responders and delays: A/B tests need two models that answer
differently, and a measurable delay to show both are asked at once (the pair
should take about the slower model's time, not the sum). Usage is estimated
(~4 characters per token) so callers that record tokens get plausible numbers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.concurrency import run_in_threadpool

from tests.fakes.openai_jobs import new_id
from tests.fakes.openai_state import ApiError, OpenAIState, Responder, missing_parameter

__all__ = ["chat_completion"]

_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _check(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise missing_parameter("messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise ApiError(
                400, f"Invalid value for 'messages[{index}].role'.", param=f"messages[{index}].role"
            )
    if body.get("stream"):
        raise ApiError(
            400, "The fake OpenAI API does not stream; call without stream=True.", param="stream"
        )
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= float(temperature) <= 2:
        raise ApiError(
            400,
            f"Invalid 'temperature': expected a value <= 2, got {temperature}.",
            param="temperature",
            code="decimal_above_max_value",
        )
    return messages


async def _answer(
    responder: Responder | None, model: str, messages: list[dict[str, Any]], body: dict[str, Any]
) -> str:
    if responder is None:
        last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
        return f"[{model}] answer to: {last}"
    # Responders may block (e.g. a judge that parses the prompt): keep the loop free.
    return str(await run_in_threadpool(responder, messages, body))


async def chat_completion(
    state: OpenAIState, body: dict[str, Any], *, model: str
) -> dict[str, Any]:
    """Answer one ``POST /chat/completions`` for ``model`` (a base, ``ft:`` or responder model)."""
    messages = _check(body)
    with state.lock:
        if model not in state.models:
            raise ApiError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        responder, delay = state.responders.get(model, (None, 0.0))
    if delay:
        await asyncio.sleep(delay)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    choices: list[dict[str, Any]] = []
    for index in range(int(body.get("n") or 1)):
        text, finish = await _answer(responder, model, messages, body), "stop"
        if limit is not None and _tokens(text) > int(limit):
            text, finish = text[: int(limit) * 4], "length"
        choices.append(
            {
                "index": index,
                "finish_reason": finish,
                "logprobs": None,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": None,
                    "annotations": [],
                },
            }
        )
    completion = sum(_tokens(c["message"]["content"]) for c in choices)
    prompt = sum(_tokens(str(m.get("content") or "")) + 3 for m in messages) + 3
    return {
        "id": new_id("chatcmpl-", 29),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "service_tier": "default",
        "system_fingerprint": "fp_fake0001",
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }
