"""Every setting tunebot reads, in validated objects.

Entry points call :func:`load_settings` (or :func:`load_validation_settings`,
for ``tunebot validate``, which needs no bot settings) once and pass the object
down; nothing else reads ``os.environ``. Values come from the environment or a
``.env`` file. Secrets are ``SecretStr`` so they never print in logs or reprs.

Every value is checked when read: lists accept ``a,b`` as well as JSON
``["a","b"]``, numbers must be finite and in range, a secret that is set must
not be empty. A bad value makes the loaders raise one ``ConfigError`` naming
every bad setting, which the CLI prints without a traceback (exit status 2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.errors import ConfigError


def _list(value: object) -> list[str]:
    """``a,b``, ``["a","b"]`` or an empty value -> ``["a", "b"]``."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(
                    'expected a comma-separated list (U1,U2) or a JSON list (["U1","U2"]); '
                    "this starts with '[' but is not valid JSON"
                ) from None
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise ValueError("expected a comma-separated list (U1,U2) or a JSON list of strings")


def _json_object(value: object) -> object:
    """A JSON object given as text (environment) or already a dict (code)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return {}
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ValueError('expected a JSON object, e.g. {"gpt-4o-mini": 3.0}') from None
    return value


_SCOPE = re.compile(r"[a-z][a-z0-9_.]*(:[a-z0-9_.]+)*")
"""A Slack OAuth scope name: ``chat:write``, ``channels:history``, ``commands``."""

# NoDecode: pydantic-settings would otherwise json.loads the raw variable before
# any validator runs, so `U1,U2` crashed with a traceback and a bad JSON object
# stopped at the first error instead of joining the list of bad settings.
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_list)]
"""A list setting: ``U1,U2`` (as the README writes it) or JSON ``["U1","U2"]``."""

PriceTable = Annotated[
    dict[str, Annotated[float, Field(ge=0)]], NoDecode, BeforeValidator(_json_object)
]

_CONFIG = SettingsConfigDict(
    env_file=".env",
    env_file_encoding="utf-8",
    extra="ignore",
    populate_by_name=True,
    # nan/inf are never a meaningful setting; a nan budget silently disabled the cap.
    allow_inf_nan=False,
)


class ValidationSettings(BaseSettings):
    """What ``tunebot validate`` reads: the target model, prices, size and tokenizer."""

    model_config = _CONFIG

    default_model: str = Field(
        default="gpt-4o-mini-2024-07-18",
        min_length=1,
        alias="TUNEBOT_DEFAULT_MODEL",
        description="Target model used for token limits and cost when none is given.",
    )
    price_overrides: PriceTable = Field(
        default_factory=dict,
        alias="TUNEBOT_PRICES",
        description=(
            'Training price per 1M tokens by model id, JSON: {"gpt-4o-mini-2024-07-18": 3.0}.'
        ),
    )
    max_file_bytes: int = Field(
        default=512 * 1024 * 1024,
        gt=0,
        alias="TUNEBOT_MAX_FILE_BYTES",
        description="Largest dataset file accepted (OpenAI's limit is 512 MB).",
    )
    hf_tokenizer_path: Path | None = Field(
        default=None,
        alias="TUNEBOT_HF_TOKENIZER",
        description="Local tokenizer folder for counting tokens of open models exactly.",
    )


class Settings(ValidationSettings):
    """tunebot's settings. Environment names are given in each field's alias."""

    # --- storage ----------------------------------------------------------
    database_url: str = Field(
        default="sqlite:///tunebot.db",
        min_length=1,
        alias="DATABASE_URL",
        description="SQLAlchemy URL of the bot's database; PostgreSQL "
        "(postgresql://user:pass@host/db) for several replicas.",
    )
    data_dir: Path = Field(
        default=Path("tunebot-data"),
        alias="TUNEBOT_DATA_DIR",
        description="Local working folder; also where validated dataset files are kept when "
        "TUNEBOT_STORAGE_URL is unset.",
    )
    storage_url: str | None = Field(
        default=None,
        alias="TUNEBOT_STORAGE_URL",
        description="Shared storage of validated (fixed) dataset files, read by every replica: "
        "a folder all replicas mount, or s3://bucket/prefix (AWS_* variables give credentials "
        "and endpoint); unset: TUNEBOT_DATA_DIR.",
    )

    # --- Slack ------------------------------------------------------------
    slack_bot_token: SecretStr | None = Field(
        default=None,
        alias="SLACK_BOT_TOKEN",
        description="The app's Bot User OAuth Token (xoxb-…); required by tunebot serve.",
    )
    slack_app_token: SecretStr | None = Field(
        default=None,
        alias="SLACK_APP_TOKEN",
        description="App-level token (xapp-…, connections:write); when set, Socket Mode.",
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        alias="SLACK_SIGNING_SECRET",
        description="Verifies Slack's requests in HTTP mode (needed without SLACK_APP_TOKEN).",
    )
    slack_client_id: str | None = Field(
        default=None,
        alias="SLACK_CLIENT_ID",
        description="The app's Client ID (Basic Information page); with SLACK_CLIENT_SECRET "
        "and SLACK_SIGNING_SECRET, HTTP mode installs into many workspaces through Slack's "
        "OAuth (/slack/install) instead of using SLACK_BOT_TOKEN.",
    )
    slack_client_secret: SecretStr | None = Field(
        default=None,
        alias="SLACK_CLIENT_SECRET",
        description="The app's Client Secret; needed with SLACK_CLIENT_ID.",
    )
    slack_oauth_scopes: CommaList = Field(
        default_factory=list,
        alias="SLACK_OAUTH_SCOPES",
        description="Bot scopes an OAuth install asks for, comma-separated; unset: those "
        "manifest.yml lists.",
    )
    slack_oauth_redirect_uri: str | None = Field(
        default=None,
        alias="SLACK_OAUTH_REDIRECT_URI",
        description="Full URL of /slack/oauth_redirect as registered on the app's OAuth & "
        "Permissions page (https://tunebot.example.com/slack/oauth_redirect); unset: Slack "
        "uses the app's only registered one.",
    )
    slack_api_base_url: str = Field(
        default="https://slack.com/api/",
        alias="SLACK_API_BASE_URL",
        description="Slack Web API base URL (tests point it at a fake; files are fetched "
        "only from Slack's hosts or this one).",
    )
    max_request_bytes: int = Field(
        default=2 * 1024 * 1024,
        gt=0,
        alias="TUNEBOT_MAX_REQUEST_BYTES",
        description="Largest request body POST /slack/events accepts in HTTP mode (larger: "
        "413, refused before it is read); Slack's own payloads are far smaller.",
    )
    inference_prices: PriceTable = Field(
        default_factory=dict,
        alias="TUNEBOT_INFERENCE_PRICES",
        description="USD per 1M tokens (prompt and answer) of the model calls A/B tests make, "
        'by model id, JSON: {"gpt-4o-mini-2024-07-18": 0.6}; they count toward '
        "TUNEBOT_MONTHLY_BUDGET_USD. With a budget set, A/B tests on an unpriced OpenAI or "
        "Azure model are refused (the worker is free).",
    )
    admins: CommaList = Field(
        default_factory=list,
        alias="TUNEBOT_ADMINS",
        description="Comma-separated Slack user ids who may start and cancel any job.",
    )
    allowed_usergroup: str | None = Field(
        default=None,
        alias="TUNEBOT_ALLOWED_USERGROUP",
        description="Slack user group id whose members may start jobs; with no admins and "
        "no group, everyone may.",
    )
    monthly_budget_usd: float | None = Field(
        default=None,
        ge=0,
        alias="TUNEBOT_MONTHLY_BUDGET_USD",
        description="Cap on the estimated training spend per calendar month; unset: no cap.",
    )

    # --- providers --------------------------------------------------------
    openai_api_key: SecretStr | None = Field(
        default=None, alias="OPENAI_API_KEY", description="Enables the OpenAI provider."
    )
    openai_base_url: str | None = Field(
        default=None,
        alias="OPENAI_BASE_URL",
        description="OpenAI API base URL, for a proxy or gateway; unset: api.openai.com.",
    )
    azure_openai_endpoint: str | None = Field(
        default=None,
        alias="AZURE_OPENAI_ENDPOINT",
        description="Azure OpenAI resource endpoint; with its key, enables the Azure provider.",
    )
    azure_openai_api_key: SecretStr | None = Field(
        default=None, alias="AZURE_OPENAI_API_KEY", description="Azure OpenAI API key."
    )
    openai_api_version: str = Field(
        default="2025-04-01-preview",
        alias="OPENAI_API_VERSION",
        description="Azure OpenAI API version sent with every Azure request.",
    )
    worker_url: str | None = Field(
        default=None,
        alias="TUNEBOT_WORKER_URL",
        description="Base URL of the QLoRA worker's API (http://gpu-box:8000/v1); enables it.",
    )
    worker_api_key: SecretStr | None = Field(
        default=None,
        alias="TUNEBOT_WORKER_API_KEY",
        description="Shared key of the worker: it requires it, the bot sends it.",
    )
    provider_max_retries: int = Field(
        default=3,
        ge=0,
        alias="TUNEBOT_PROVIDER_MAX_RETRIES",
        description="Retries of a failed provider request (the openai SDK's backoff).",
    )
    # QLoRA worker (`tunebot worker`); its key is worker_api_key above.
    worker_cancel_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        alias="TUNEBOT_WORKER_CANCEL_GRACE",
        description="Seconds a cancelled training process gets to checkpoint before SIGKILL.",
    )
    worker_loaded_models: int = Field(
        default=2,
        ge=1,
        alias="TUNEBOT_WORKER_LOADED_MODELS",
        description="Models the worker keeps loaded for chat completions (LRU).",
    )
    provider_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        alias="TUNEBOT_PROVIDER_TIMEOUT",
        description="Seconds before one provider request times out.",
    )

    # --- progress ---------------------------------------------------------
    poll_seconds: float = Field(
        default=30.0,
        gt=0,
        alias="TUNEBOT_POLL_SECONDS",
        description="Seconds between polls of the active training jobs.",
    )
    min_edit_seconds: float = Field(
        default=20.0,
        ge=0,
        alias="TUNEBOT_MIN_EDIT_SECONDS",
        description="Least seconds between two edits of one progress or scoreboard message.",
    )
    edits_per_minute: int = Field(
        default=40,
        ge=1,
        alias="TUNEBOT_EDITS_PER_MINUTE",
        description="Workspace-wide chat.update budget; Slack's Tier 3 allows ~50/min.",
    )
    poll_concurrency: int = Field(
        default=32,
        ge=1,
        alias="TUNEBOT_POLL_CONCURRENCY",
        description="Provider requests one poll tick makes at once.",
    )
    provider_silence_alert_seconds: float = Field(
        default=1800.0,
        gt=0,
        alias="TUNEBOT_PROVIDER_SILENCE_ALERT",
        description="Seconds a provider may keep failing before the job's thread is told.",
    )
    replica_id: str | None = Field(
        default=None,
        alias="TUNEBOT_REPLICA_ID",
        description="Name of this bot replica for job claims (default: the host name); "
        "a restarted replica with the same name resumes its jobs at once.",
    )

    # --- operations -------------------------------------------------------
    log_format: Literal["json", "text"] | None = Field(
        default=None,
        alias="TUNEBOT_LOG_FORMAT",
        description="Log lines on stderr: json (one object per line, for log shippers) or "
        "text; unset picks text at a terminal and json otherwise.",
    )

    # --- evaluation -------------------------------------------------------
    judge_model: str | None = Field(
        default=None,
        alias="TUNEBOT_JUDGE_MODEL",
        description="LLM judge of held-out evaluations, model or provider:model; unset: no judge.",
    )
    eval_max_prompts: int = Field(
        default=50,
        ge=1,
        alias="TUNEBOT_EVAL_MAX_PROMPTS",
        description="Held-out examples a post-training evaluation runs at most.",
    )
    eval_concurrency: int = Field(
        default=4,
        ge=1,
        alias="TUNEBOT_EVAL_CONCURRENCY",
        description="Model calls a held-out evaluation makes at once.",
    )
    dpo_min_pairs: int = Field(
        default=20,
        ge=10,
        alias="TUNEBOT_DPO_MIN_PAIRS",
        description="Decided A/B prompts a session needs before its results offer "
        '"Train on these votes" (a DPO job on the session\'s preference pairs); '
        "at least 10, the smallest training file OpenAI accepts.",
    )

    @field_validator(
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
        "slack_client_secret",
        "openai_api_key",
        "azure_openai_api_key",
        "worker_api_key",
        mode="before",
    )
    @classmethod
    def _not_empty(cls, value: object) -> object:
        # An empty secret is a mistake, never "off": SLACK_SIGNING_SECRET="" let
        # the bot start and then answer every Slack request with 500.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is set but empty; give its value, or unset the variable")
        return value

    @field_validator(
        "slack_api_base_url",
        "slack_oauth_redirect_uri",
        "openai_base_url",
        "azure_openai_endpoint",
        "worker_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        text = value.strip()
        if "://" in text and not text.startswith(("file://", "s3://")):
            raise ValueError("expected a folder path, file://path or s3://bucket/prefix")
        if text.startswith("s3://") and not text.removeprefix("s3://").strip("/"):
            raise ValueError("s3:// needs a bucket: s3://bucket/prefix")
        return text

    @field_validator("slack_oauth_scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        bad = [scope for scope in value if not _SCOPE.fullmatch(scope)]
        if bad:
            raise ValueError(
                f"expected Slack scope names like chat:write,commands; not {', '.join(bad[:3])}"
            )
        return value

    @field_validator("slack_api_base_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    def secret_values(self) -> list[str]:
        """Every secret setting's value, for the log redactor (core.logs)."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                values.append(value.get_secret_value())
        return values

    @property
    def oauth_install(self) -> bool:
        """Many workspaces through Slack's OAuth install (a client id is set)."""
        return self.slack_client_id is not None

    @cached_property
    def configured_providers(self) -> list[str]:
        """Providers with enough settings to be used, in the order people see them."""
        found = []
        if self.worker_url:
            found.append("worker")
        if self.openai_api_key:
            found.append("openai")
        if self.azure_openai_endpoint and self.azure_openai_api_key:
            found.append("azure")
        return found


S = TypeVar("S", bound=ValidationSettings)


def load_settings(**overrides: object) -> Settings:
    """Read every setting from the environment (and ``.env``), with explicit overrides.

    Raises:
        ConfigError: one or more settings are invalid; the message lists each.
    """
    return _load(Settings, overrides)


def load_validation_settings(**overrides: object) -> ValidationSettings:
    """Read only what ``tunebot validate`` uses, so broken bot settings cannot stop it.

    Raises:
        ConfigError: one of those settings is invalid; the message lists each.
    """
    return _load(ValidationSettings, overrides)


def environment_variables(
    kind: type[BaseSettings], names: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """(variable, description) of each setting ``kind`` reads, for ``--help``.

    Parameters:
        names: only these variables, in this order (a command that reads a few).
    """
    found = {
        field.alias or name.upper(): field.description or ""
        for name, field in kind.model_fields.items()
    }
    return [(n, found[n]) for n in (names if names is not None else list(found)) if n in found]


def _load(kind: type[S], overrides: dict[str, Any]) -> S:
    try:
        return kind(**overrides)
    except ValidationError as exc:
        raise settings_error(kind, exc) from None


def settings_error(kind: type[BaseSettings], exc: ValidationError) -> ConfigError:
    """One message naming every bad setting and what it expects (secrets not echoed)."""
    fields = {field.alias or name: field for name, field in kind.model_fields.items()}
    lines, names = [], set()
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "settings"
        names.add(name)
        where = name + "".join(f"[{part!r}]" for part in error["loc"][1:])
        field = fields.get(name)
        secret = field is not None and "SecretStr" in str(field.annotation)
        shown = "" if secret else f" = {_short(error['input'])}"
        detail = error["msg"].removeprefix("Value error, ")
        lines.append(f"  - {where}{shown}: {detail}")
    count = len(names)
    noun = "setting is" if count == 1 else "settings are"
    return ConfigError(
        f"{count} {noun} invalid (read from the environment or .env):\n"
        + "\n".join(lines)
        + "\nFix or unset them, then run the command again."
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
