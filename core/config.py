"""Every setting tunebot reads, in one validated object.

Entry points call :func:`load_settings` once and pass the object down; nothing
else reads ``os.environ``. Values come from the environment or a ``.env`` file.
Secrets are ``SecretStr`` so they never print in logs or reprs.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _csv(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    raise ValueError("expected a comma-separated list")


class Settings(BaseSettings):
    """tunebot's settings. Environment names are given in each field's alias."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # --- validation -------------------------------------------------------
    default_model: str = Field(
        default="gpt-4o-mini-2024-07-18",
        alias="TUNEBOT_DEFAULT_MODEL",
        description="Target model used for token limits and cost when none is given.",
    )
    price_overrides: dict[str, float] = Field(
        default_factory=dict,
        alias="TUNEBOT_PRICES",
        description=(
            'Training price per 1M tokens by model id, JSON: {"gpt-4o-mini-2024-07-18": 3.0}.'
        ),
    )
    max_file_bytes: int = Field(
        default=512 * 1024 * 1024,
        alias="TUNEBOT_MAX_FILE_BYTES",
        description="Largest dataset file accepted (OpenAI's limit is 512 MB).",
    )
    hf_tokenizer_path: Path | None = Field(
        default=None,
        alias="TUNEBOT_HF_TOKENIZER",
        description="Local tokenizer folder for counting tokens of open models exactly.",
    )

    # --- storage ----------------------------------------------------------
    database_url: str = Field(
        default="sqlite:///tunebot.db",
        alias="DATABASE_URL",
        description="SQLAlchemy URL of the bot's database; PostgreSQL "
        "(postgresql://user:pass@host/db) for several replicas.",
    )
    data_dir: Path = Field(
        default=Path("tunebot-data"),
        alias="TUNEBOT_DATA_DIR",
        description="Where validated (fixed) dataset files are kept until a job uploads them.",
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
    slack_api_base_url: str = Field(
        default="https://slack.com/api/",
        alias="SLACK_API_BASE_URL",
        description="Slack Web API base URL (tests point it at a fake; files are fetched "
        "only from Slack's hosts or this one).",
    )
    admins: list[str] = Field(
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
        alias="TUNEBOT_PROVIDER_MAX_RETRIES",
        description="Retries of a failed provider request (the openai SDK's backoff).",
    )
    # QLoRA worker (`tunebot worker`); its key is worker_api_key above.
    worker_cancel_grace_seconds: float = Field(
        default=30.0,
        alias="TUNEBOT_WORKER_CANCEL_GRACE",
        description="Seconds a cancelled training process gets to checkpoint before SIGKILL.",
    )
    worker_loaded_models: int = Field(
        default=2,
        alias="TUNEBOT_WORKER_LOADED_MODELS",
        description="Models the worker keeps loaded for chat completions (LRU).",
    )
    provider_timeout_seconds: float = Field(
        default=60.0,
        alias="TUNEBOT_PROVIDER_TIMEOUT",
        description="Seconds before one provider request times out.",
    )

    # --- progress ---------------------------------------------------------
    poll_seconds: float = Field(
        default=30.0,
        alias="TUNEBOT_POLL_SECONDS",
        description="Seconds between polls of the active training jobs.",
    )
    min_edit_seconds: float = Field(
        default=20.0,
        alias="TUNEBOT_MIN_EDIT_SECONDS",
        description="Least seconds between two edits of one progress or scoreboard message.",
    )
    edits_per_minute: int = Field(
        default=40,
        alias="TUNEBOT_EDITS_PER_MINUTE",
        description="Workspace-wide chat.update budget; Slack's Tier 3 allows ~50/min.",
    )
    poll_concurrency: int = Field(
        default=32,
        alias="TUNEBOT_POLL_CONCURRENCY",
        description="Provider requests one poll tick makes at once.",
    )
    provider_silence_alert_seconds: float = Field(
        default=1800.0,
        alias="TUNEBOT_PROVIDER_SILENCE_ALERT",
        description="Seconds a provider may keep failing before the job's thread is told.",
    )
    replica_id: str | None = Field(
        default=None,
        alias="TUNEBOT_REPLICA_ID",
        description="Name of this bot replica for job claims (default: the host name); "
        "a restarted replica with the same name resumes its jobs at once.",
    )

    # --- evaluation -------------------------------------------------------
    judge_model: str | None = Field(
        default=None,
        alias="TUNEBOT_JUDGE_MODEL",
        description="LLM judge of held-out evaluations, model or provider:model; unset: no judge.",
    )
    eval_max_prompts: int = Field(
        default=50,
        alias="TUNEBOT_EVAL_MAX_PROMPTS",
        description="Held-out examples a post-training evaluation runs at most.",
    )
    eval_concurrency: int = Field(
        default=4,
        alias="TUNEBOT_EVAL_CONCURRENCY",
        description="Model calls a held-out evaluation makes at once.",
    )

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> list[str]:
        return _csv(value)

    @field_validator("slack_api_base_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

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


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and ``.env``), with explicit overrides."""
    return Settings(**overrides)  # type: ignore[arg-type]
