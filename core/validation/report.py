"""The validation report: one typed object for the CLI, the Slack bot and the worker.

The CLI prints it (text or ``--json``), the bot renders it in Block Kit, the
worker refuses to train on a file whose verdict is ``not_ready``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["error", "warning"]
Verdict = Literal["ready", "warnings", "not_ready"]
DatasetFormat = Literal["chat", "prompt_completion", "preference", "text", "mixed", "unknown"]


class Finding(BaseModel):
    """One problem found in the file.

    ``code`` is stable snake_case (people and tests rely on it); ``line`` is the
    1-based JSONL line or CSV/XLSX row; ``example`` the 0-based example index.
    """

    code: str
    severity: Severity
    message: str
    line: int | None = None
    example: int | None = None
    fix: str | None = None


class TokenStats(BaseModel):
    """Token counts per example for the target model's encoding."""

    total: int = 0
    min: int = 0
    max: int = 0
    mean: float = 0.0
    p50: int = 0
    p95: int = 0
    assistant_total: int = Field(
        default=0, description="Tokens that are trained (assistant, weight != 0)."
    )
    estimated: bool = Field(
        default=False,
        description="True when some counts are estimates (tool calls, tiktoken for open models).",
    )


class Change(BaseModel):
    """One thing ``--fix`` changed, so the report lists every change."""

    code: str
    message: str
    line: int | None = None
    example: int | None = None


class Report(BaseModel):
    """Everything tunebot knows about a dataset file."""

    file_name: str
    file_type: str
    verdict: Verdict
    format: DatasetFormat
    examples: int
    errors: list[Finding] = Field(default_factory=list)
    warnings: list[Finding] = Field(default_factory=list)
    tokens: TokenStats = Field(default_factory=TokenStats)
    billed_tokens_per_epoch: int = 0
    epochs: int = 0
    trained_tokens: int = 0
    estimated_cost_usd: float | None = None
    model: str
    encoding: str
    notes: list[str] = Field(default_factory=list)
    changes: list[Change] = Field(default_factory=list)
    fixed_examples: int | None = Field(
        default=None, description="Examples written by --fix (None when no fixed file was written)."
    )
    readable: bool = Field(
        default=True,
        description="False when the file could not be read at all (missing, binary, UTF-16, "
        "unsupported type, too large, zip bomb): the CLI exits 2.",
    )
    file_size_bytes: int = 0
    finding_counts: dict[str, int] = Field(
        default_factory=dict,
        description="How many findings of each code there were; ``errors``/``warnings`` list "
        "at most 10,000 per code, so these counts can be larger.",
    )
    format_counts: dict[str, int] = Field(
        default_factory=dict, description="Examples per detected format (unknown = unreadable)."
    )
    fixed_path: str | None = Field(
        default=None, description="The fixed (training) JSONL, if written."
    )
    validation_path: str | None = Field(
        default=None, description="The validation split written by --split (OUT.valid.jsonl)."
    )
    validation_examples: int | None = Field(
        default=None, description="Examples in the validation split (None without --split)."
    )
    price_per_1m: float | None = Field(default=None, description="Training USD per 1M tokens used.")
    price_read_on: str | None = Field(default=None, description="When that price was read.")
