"""``tunebot poll``: a polling-only replica (progress and evaluations, no Slack listener).

Stops cleanly on SIGTERM or Ctrl-C, handing its jobs to the other replicas at once.
"""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated

import typer

from core.config import load_settings
from core.logs import setup_logging

OnceOption = Annotated[bool, typer.Option("--once", help="Run one progress tick, print it, exit.")]
HealthPortOption = Annotated[
    int | None,
    typer.Option(
        "--health-port",
        help="Serve /healthz, /readyz and /metrics on this port.",
        min=1,
        max=65535,
    ),
]
HostOption = Annotated[str, typer.Option("--host", help="Bind address of the probes.")]


def register(app: typer.Typer) -> None:
    @app.command("poll")
    def poll(
        once: OnceOption = False,
        health_port: HealthPortOption = None,
        host: HostOption = "0.0.0.0",
    ) -> None:
        """Poll training jobs and post their progress to Slack, without answering Slack."""
        settings = load_settings()
        setup_logging(settings)
        # Imported here so `tunebot validate` does not load Slack and APScheduler,
        # and after the settings so a bad one is refused without that wait.
        from bot.runtime import Runtime

        runtime = Runtime(settings, listen=False, evaluations=False)
        if once:
            assert runtime.progress is not None
            try:
                typer.echo(json.dumps(runtime.progress.tick().__dict__))
            finally:
                runtime.stop()
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        runtime.start()
        if health_port is not None:
            runtime.serve_probes(host=host, port=health_port)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            runtime.stop()
