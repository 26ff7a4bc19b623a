"""``tunebot serve``: run the Slack bot (Socket Mode or HTTP) and the progress scheduler.

Socket Mode when ``SLACK_APP_TOKEN`` is set (no public URL: fits firewalled
teams); otherwise HTTP mode on ``--port`` with ``SLACK_SIGNING_SECRET``, every
Slack request at ``POST /slack/events`` and ``GET /healthz``. Missing settings
print one message listing what to set, exit status 2.
"""

from __future__ import annotations

import importlib
import logging
import signal
from typing import Annotated, Any

import typer

from core.config import Settings, load_settings
from core.logs import setup_logging

logger = logging.getLogger("tunebot.serve")


def missing_settings(settings: Settings) -> list[str]:
    """Environment variables that must be set before the bot can run."""
    missing = []
    if settings.slack_bot_token is None:
        missing.append("SLACK_BOT_TOKEN (the app's Bot User OAuth Token, xoxb-…)")
    if settings.slack_app_token is None and settings.slack_signing_secret is None:
        missing.append(
            "SLACK_APP_TOKEN (xapp-…, for Socket Mode) or SLACK_SIGNING_SECRET (for HTTP mode)"
        )
    return missing


def start_scheduler(ctx: Any) -> Any | None:
    """Start progress polling when ``bot.scheduler`` is present (it lands separately)."""
    try:
        module = importlib.import_module("bot.scheduler")
    except ModuleNotFoundError as exc:
        if exc.name != "bot.scheduler":
            raise
        logger.warning("bot.scheduler is not installed: job progress will not be posted")
        return None
    return module.start_scheduler(ctx)


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Build the bot and run it until interrupted."""
    from slack_bolt.error import BoltError

    from bot.app import build_app, build_context

    ctx = build_context(settings)
    if ctx.authorizer.open_to_everyone:
        logger.warning(
            "Neither TUNEBOT_ADMINS nor TUNEBOT_ALLOWED_USERGROUP is set: every member of the "
            "workspace can start fine-tuning jobs (and spend money)."
        )
    if not ctx.providers:
        logger.warning(
            "No provider configured (TUNEBOT_WORKER_URL, OPENAI_API_KEY, Azure): "
            "datasets are validated but no job can start."
        )
    try:
        app = build_app(ctx)  # checks the bot token with auth.test
    except BoltError:
        typer.echo(
            "tunebot serve cannot start: Slack rejected SLACK_BOT_TOKEN (auth.test failed). "
            "Copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page.",
            err=True,
        )
        raise typer.Exit(2) from None
    scheduler = start_scheduler(ctx)
    # Held-out evaluations and abandoned A/B prompts, on their own scheduler.
    from bot.evaluation_runner import start_evaluation_scheduler

    evaluations = start_evaluation_scheduler(ctx)
    try:
        if settings.slack_app_token is not None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            logger.info("Socket Mode: connecting to Slack")
            handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
            # Python dies on SIGTERM without unwinding; turn it into SystemExit so
            # the finally block below stops the schedulers and releases job claims
            # (uvicorn does this itself in HTTP mode).
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
            handler.start()  # type: ignore[no-untyped-call]
        else:
            import uvicorn

            from bot.http_server import build_http_app

            logger.info("HTTP mode on %s:%d, Slack requests at POST /slack/events", host, port)
            uvicorn.run(
                build_http_app(app, engine=ctx.engine),
                host=host,
                port=port,
                log_level="info",
                access_log=False,
                log_config=None,  # keep core.logs' handler (JSON lines, redaction)
            )
    finally:
        evaluations.shutdown(wait=False)
        if scheduler is not None:
            scheduler.shutdown()
        ctx.validation_pool.shutdown(wait=False, cancel_futures=True)
        ctx.pool.shutdown(wait=False, cancel_futures=True)


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_command(
        port: Annotated[
            int, typer.Option("--port", help="HTTP mode port.", min=1, max=65535)
        ] = 3000,
        host: Annotated[str, typer.Option("--host", help="HTTP mode bind address.")] = "0.0.0.0",
    ) -> None:
        """Run the Slack bot: Socket Mode with SLACK_APP_TOKEN, else HTTP on --port."""
        settings = load_settings()
        setup_logging(settings)
        missing = missing_settings(settings)
        if missing:
            typer.echo(
                "tunebot serve cannot start; set these environment variables "
                "(or put them in .env):\n" + "\n".join(f"  - {item}" for item in missing),
                err=True,
            )
            raise typer.Exit(2)
        serve(settings, host=host, port=port)


def _exit_on_sigterm(_signum: int, _frame: Any) -> None:
    logger.info("SIGTERM: stopping")
    raise SystemExit(0)
