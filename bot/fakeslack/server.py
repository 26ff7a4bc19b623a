"""A real HTTP server on loopback for the fakes.

Why uvicorn in a thread rather than an in-process transport: the code under
test must go through real sockets, real HTTP parsing and its real clients
(slack_sdk's urllib, the openai SDK's httpx), so retries, timeouts and headers
behave exactly as they will against Slack and OpenAI. uvicorn's event loop
also serves hundreds of concurrent slow requests (``asyncio.sleep`` latency)
without a thread per request, which the 500-job polling benchmark needs.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Self

import uvicorn
from starlette.types import ASGIApp

__all__ = ["LoopbackServer"]


class LoopbackServer:
    """Serve an ASGI app on ``127.0.0.1`` at a free port in a daemon thread.

    Parameters
    ----------
    app:
        The ASGI application to serve.
    name:
        Thread name, shown in tracebacks and ``threading.enumerate()``.

    Example::

        server = LoopbackServer(app, name="fake-slack")
        server.start()
        ...  # talk to server.url
        server.stop()
    """

    def __init__(self, app: ASGIApp, *, name: str) -> None:
        self._app = app
        self._name = name
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        if not self.port:
            raise RuntimeError(f"{self._name} is not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 10.0, port: int = 0) -> None:
        """Bind ``port`` (0: a free one) and serve until :meth:`stop`; returns once accepting.

        A given port lets a test start the fake where a client already retries.
        """
        if self._thread is not None:
            raise RuntimeError(f"{self._name} already started")
        # Binding ourselves (port 0) avoids the race of "find a free port, then
        # let uvicorn bind it" when several fakes start at once.
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted
        # sockets whose proto says TCP; without it, Nagle + delayed ACK add
        # ~40 ms to every keep-alive request (measured: 45 ms -> <2 ms).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            timeout_graceful_shutdown=2,
            # Benchmarks open hundreds of connections at once.
            backlog=2048,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=self._name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self._name} did not start on port {self.port}")
            time.sleep(0.005)

    def stop(self, *, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit, close open connections and wait for the thread."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            # A stuck client connection must not hang the test session.
            self._server.force_exit = True
            self._thread.join(timeout)
        self._server = None
        self._thread = None


class LoopbackFake:
    """Lifecycle shared by the fakes: start/stop, context manager, ``url``.

    Subclasses set ``self._server`` to a :class:`LoopbackServer` in ``__init__``.
    """

    _server: LoopbackServer

    def start(self, *, port: int = 0) -> Self:
        self._server.start(port=port)
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the fake's own host."""
        return self._server.url
