"""Refuse oversized request bodies before they are read (ASGI middleware).

Why here and not in the route: FastAPI reads and parses the whole body before
a route runs, so a 150 MB chat request was in memory (several times over)
before any check; the worker was killed by the kernel. This middleware answers
413 from ``Content-Length`` alone, or, for a chunked body, as soon as the
bytes read pass the limit, and hands the route a body it has already bounded.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Cap the body of requests to ``paths`` at ``max_bytes``.

    Parameters:
        app: the wrapped ASGI app.
        paths: exact request paths the cap applies to.
        max_bytes: the largest body accepted.
        setting: how the operator raises the cap (named in the 413 message).
    """

    def __init__(
        self, app: ASGIApp, *, paths: frozenset[str], max_bytes: int, setting: str
    ) -> None:
        self.app = app
        self.paths = paths
        self.max_bytes = max_bytes
        self.setting = setting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, declared)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, None)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        del chunks
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: disconnect notices for the route

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, declared: int | None) -> None:
        size = f"{declared:,} bytes" if declared is not None else "more than that"
        error = {
            "message": f"The request body ({size}) is over the worker's limit of "
            f"{self.max_bytes:,} bytes. Send shorter messages, or raise {self.setting}.",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_too_large",
        }
        payload = json.dumps({"error": error}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload, "more_body": False})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
