"""``tunebot doctor``: check every setting ``serve`` depends on, print one table.

Each check is a small function returning :class:`~cli.doctor_checks.Check`
rows, so tests can call them one by one. Exit status 0 when nothing ``serve``
needs failed, 1 otherwise; every failed row says what to do. No row ever shows
a secret: tokens and keys are reported as present, accepted or rejected, with
Slack's and the provider's error codes.

The Slack checks live here, not in core: they talk to Slack (``auth.test`` and
its ``x-oauth-scopes`` header), and ``core`` knows nothing of Slack. The others
are in :mod:`cli.doctor_checks`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table

from cli.doctor_checks import (
    TIMEOUT_SECONDS,
    Check,
    Status,
    check_access,
    check_data_dir,
    check_database,
    check_encodings,
    check_providers,
)
from core.config import Settings, load_settings
from core.logs import setup_logging

__all__ = ["Check", "compare_scopes", "exit_code", "manifest_scopes", "register", "run_checks"]

logger = logging.getLogger("tunebot.doctor")

MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"


# --- Slack --------------------------------------------------------------------
def manifest_scopes(path: Path = MANIFEST) -> list[str]:
    """The bot scopes the app manifest asks for."""
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    return list(manifest["oauth_config"]["scopes"]["bot"])


def compare_scopes(granted: Iterable[str], wanted: Iterable[str]) -> Check:
    """The token's scopes against the manifest's: a missing one is a failure."""
    granted_set = {scope.strip() for scope in granted if scope.strip()}
    missing = [scope for scope in wanted if scope not in granted_set]
    if missing:
        return Check(
            "Slack scopes",
            "fail",
            f"missing {', '.join(missing)}",
            "Add them under OAuth & Permissions (or paste manifest.yml again), reinstall the "
            "app to the workspace, and use the new Bot User OAuth Token.",
        )
    return Check("Slack scopes", "ok", f"all {len(list(wanted))} from manifest.yml granted")


def check_slack_token(settings: Settings, *, wanted: list[str]) -> list[Check]:
    """``auth.test`` with the bot token, then its scopes against ``wanted``."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    if settings.oauth_install:
        return [check_oauth_install(settings)]
    if settings.slack_bot_token is None:
        return [
            Check(
                "Slack bot token",
                "fail",
                "SLACK_BOT_TOKEN is not set",
                "Set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…).",
            )
        ]
    token = settings.slack_bot_token.get_secret_value()
    client = WebClient(
        token=token, base_url=settings.slack_api_base_url, timeout=int(TIMEOUT_SECONDS)
    )
    try:
        response = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown")
        return [
            Check(
                "Slack bot token",
                "fail",
                f"auth.test answered {error}",
                "Copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page "
                "into SLACK_BOT_TOKEN.",
            )
        ]
    except OSError as exc:  # URLError, timeouts, refused connections
        return [
            Check(
                "Slack bot token",
                "fail",
                f"cannot reach {settings.slack_api_base_url}: {type(exc).__name__}",
                "Check the network path to Slack (proxy, firewall) or SLACK_API_BASE_URL.",
            )
        ]
    kind = "bot token" if token.startswith("xoxb-") else "not a bot token (xoxb-)"
    rows = [
        Check(
            "Slack bot token",
            "ok" if token.startswith("xoxb-") else "warn",
            f"{kind} for team {response.get('team')} ({response.get('team_id')}), "
            f"bot user {response.get('user_id')}",
            "" if token.startswith("xoxb-") else "Use the Bot User OAuth Token (xoxb-…).",
        )
    ]
    header = _header(response.headers, "x-oauth-scopes")
    if header is None:
        rows.append(
            Check(
                "Slack scopes",
                "warn",
                "Slack sent no x-oauth-scopes header",
                "Check the scopes on the app's OAuth & Permissions page against manifest.yml.",
            )
        )
    else:
        rows.append(compare_scopes(header.split(","), wanted))
    return rows


def _header(headers: dict[str, object], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return None


def check_oauth_install(settings: Settings) -> Check:
    """Many workspaces: the settings agree (each workspace's token comes from its install)."""
    from bot.startup import missing_settings

    if problems := missing_settings(settings):
        return Check(
            "Slack OAuth install",
            "fail",
            "; ".join(problems),
            "Set or unset those variables (README, Deploy: Many workspaces).",
        )
    return Check(
        "Slack OAuth install",
        "ok",
        f"client id {settings.slack_client_id}; each workspace's bot token comes from its "
        "install at /slack/install",
    )


def check_connection_mode(settings: Settings) -> Check:
    """Socket Mode's app token (opened once with ``apps.connections.open``) or
    HTTP mode's signing secret (present; only Slack can prove it right)."""
    if settings.slack_app_token is not None:
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        token = settings.slack_app_token.get_secret_value()
        client = WebClient(
            token=token, base_url=settings.slack_api_base_url, timeout=int(TIMEOUT_SECONDS)
        )
        fix = (
            "Create an app-level token with connections:write under Basic Information and set "
            "SLACK_APP_TOKEN (xapp-…); Socket Mode must be on."
        )
        try:
            client.apps_connections_open(app_token=token)
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown")
            return Check("Socket Mode app token", "fail", f"apps.connections.open: {error}", fix)
        except OSError as exc:
            return Check(
                "Socket Mode app token", "fail", f"Slack unreachable: {type(exc).__name__}", fix
            )
        return Check("Socket Mode app token", "ok", "accepted by apps.connections.open")
    if settings.slack_signing_secret is not None:
        return Check(
            "HTTP mode signing secret",
            "ok",
            "SLACK_SIGNING_SECRET is set (Slack's signed requests will prove it)",
        )
    return Check(
        "Slack connection",
        "fail",
        "neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set",
        "Set SLACK_APP_TOKEN (xapp-…) for Socket Mode, or SLACK_SIGNING_SECRET for HTTP mode.",
    )


# --- the command ----------------------------------------------------------------
def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order the table shows them; none raises."""
    steps: list[Callable[[], list[Check] | Check]] = [
        lambda: check_slack_token(settings, wanted=manifest_scopes()),
        lambda: check_connection_mode(settings),
        lambda: check_database(settings),
        lambda: check_data_dir(settings),
        lambda: check_providers(settings),
        check_encodings,
        lambda: check_access(settings),
    ]
    rows: list[Check] = []
    for step in steps:
        try:
            result = step()
        except Exception as exc:  # a check must never hide the others
            logger.exception("doctor check failed unexpectedly")
            result = Check(
                "Check error",
                "fail",
                f"{type(exc).__name__} (details in the log)",
                "Report this as a tunebot bug.",
            )
        rows.extend(result if isinstance(result, list) else [result])
    return rows


STYLE: dict[Status, str] = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def render(rows: list[Check], console: Console) -> None:
    table = Table(title="tunebot doctor", show_lines=False)
    for column in ("Check", "Status", "Found", "What to do"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = f"[{STYLE[row.status]}]{row.status.upper()}[/]"
        table.add_row(row.name, status, row.detail, row.fix)
    console.print(table)


def exit_code(rows: list[Check]) -> int:
    """0 when nothing failed (warnings allowed), else 1."""
    return 1 if any(row.status == "fail" for row in rows) else 0


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor_command() -> None:
        """Check every setting `serve` needs; exit 0 when all is fine, 1 otherwise."""
        settings = load_settings()  # a bad setting: one message, exit 2 (cli.main)
        setup_logging(settings)
        rows = run_checks(settings)
        render(rows, Console())
        failed = [row for row in rows if row.status == "fail"]
        if failed:
            typer.echo(
                f"{len(failed)} problem(s) stop `tunebot serve` working; fix each as the table "
                "says, then run `tunebot doctor` again."
            )  # stdout, with the table: stderr carries only log lines (JSON by default)
        raise typer.Exit(exit_code(rows))
