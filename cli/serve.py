"""``tunebot serve``: run the Slack bot (Socket Mode or HTTP) with progress polling.

Socket Mode when ``SLACK_APP_TOKEN`` is set, else HTTP on ``--port`` (:mod:`bot.runtime`).
Missing settings print one message listing what to set, exit status 2.
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
        # Imported here so `tunebot validate` does not load Slack, uvicorn and APScheduler.
        from bot.runtime import Runtime, StartupError, missing_settings

        settings = load_settings()
        setup_logging(settings)
        if missing := missing_settings(settings):
            lines = "\n".join(f"  - {item}" for item in missing)
            typer.echo(
                "tunebot serve cannot start; set these environment variables "
                f"(or put them in .env):\n{lines}",
                err=True,
            )
            raise typer.Exit(2)
        from core.store.schema import SchemaOutOfDate, require_current_database

        try:  # an empty database is created; an old one is refused (#13)
            require_current_database(settings.database_url)
        except SchemaOutOfDate as exc:
            typer.echo(f"tunebot serve cannot start: {exc.user_message()}", err=True)
            raise typer.Exit(2) from exc
        try:
            runtime = Runtime(settings)
        except StartupError as exc:
            typer.echo(f"tunebot serve cannot start: {exc}", err=True)
            raise typer.Exit(2) from None
        try:
            runtime.serve(host=host, port=port, health_port=health_port)
        except StartupError as exc:  # Socket Mode: Slack rejected the app-level token
            typer.echo(f"tunebot serve cannot start: {exc}", err=True)
            raise typer.Exit(2) from None
