"""``tunebot serve``: run the Slack bot (Socket Mode or HTTP) with progress polling.

Socket Mode when ``SLACK_APP_TOKEN`` is set, else HTTP on ``--port``. The checks
live in :mod:`bot.startup`, everything else in :mod:`bot.runtime`; a refusal to
start (missing settings, an old schema, a rejected token) is one message and exit
status 2.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.env_help import environment_epilog
from core.config import load_settings
from core.logs import setup_logging

PortOption = Annotated[int, typer.Option("--port", help="HTTP mode port.", min=1, max=65535)]
HostOption = Annotated[str, typer.Option("--host", help="Bind address (HTTP mode, probes).")]
HealthPortOption = Annotated[
    int | None,
    typer.Option(
        "--health-port",
        help="Socket Mode: serve /healthz, /readyz and /metrics on this port "
        "(HTTP mode serves them on --port).",
        min=1,
        max=65535,
    ),
]


def register(app: typer.Typer) -> None:
    @app.command("serve", epilog=environment_epilog())
    def serve(
        port: PortOption = 3000, host: HostOption = "0.0.0.0", health_port: HealthPortOption = None
    ) -> None:
        """Run the Slack bot: Socket Mode with SLACK_APP_TOKEN, else HTTP on --port."""
        # Imported here so `tunebot validate` does not load Slack, uvicorn and APScheduler,
        # and the runtime only once the settings hold: a refusal answers in about a second.
        from bot.startup import StartupError, preflight

        settings = load_settings()
        setup_logging(settings)
        try:
            preflight(settings)
            from bot.runtime import Runtime

            Runtime(settings).serve(host=host, port=port, health_port=health_port)
        except StartupError as exc:
            typer.echo(f"tunebot serve cannot start: {exc}", err=True)
            raise typer.Exit(2) from None
