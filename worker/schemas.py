"""Request and response bodies in OpenAI's wire format.

Why separate from :mod:`worker.records`: the stored rows hold paths, pids and
offsets that must never reach a client, and the wire shapes must match what the
``openai`` SDK parses (``FileObject``, ``FineTuningJob``, ``FineTuningJobEvent``,
``FineTuningJobCheckpoint``, ``Model``, ``ChatCompletion``) field for field.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

JobStatus = Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ListPage(BaseModel, Generic[T]):
    """OpenAI's cursor page: the SDK asks for ``after=<last id>`` while ``has_more``."""

    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool = False


class FileObject(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"] = "processed"
    status_details: str | None = None
    expires_at: int | None = None


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True


class Hyperparameters(BaseModel):
    """OpenAI's three, plus the worker's LoRA settings (see ``core.training.config``)."""

    model_config = ConfigDict(extra="allow")

    n_epochs: int | Literal["auto"] = "auto"
    batch_size: int | Literal["auto"] = "auto"
    learning_rate_multiplier: float | Literal["auto"] = "auto"


class SupervisedMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: dict[str, Any] | None = None


class DpoMethod(BaseModel):
    """``method.dpo``: OpenAI's ``beta`` and schedule, plus the worker's extensions."""

    model_config = ConfigDict(extra="forbid")

    hyperparameters: dict[str, Any] | None = None


class Method(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["supervised", "dpo"] = "supervised"
    supervised: SupervisedMethod | None = None
    dpo: DpoMethod | None = None


class JobCreate(BaseModel):
    """``POST /v1/fine_tuning/jobs``; unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    model: str
    training_file: str
    validation_file: str | None = None
    suffix: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    hyperparameters: dict[str, Any] | None = None  # OpenAI's deprecated top-level form
    method: Method | None = None
    integrations: list[Any] | None = None


class JobError(BaseModel):
    code: str
    message: str
    param: str | None = None


class FineTuningJob(BaseModel):
    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    error: JobError | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    hyperparameters: Hyperparameters
    model: str
    organization_id: str = "org-tunebot-worker"
    result_files: list[str] = Field(default_factory=list)
    seed: int
    status: JobStatus
    trained_tokens: int | None = None
    training_file: str
    validation_file: str | None = None
    estimated_finish: int | None = None
    integrations: list[Any] | None = None
    metadata: dict[str, str] | None = None
    method: dict[str, Any] | None = None
    user_provided_suffix: str | None = None


class JobEvent(BaseModel):
    id: str
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    created_at: int
    level: Literal["info", "warn", "error"] = "info"
    message: str
    data: dict[str, Any] | None = None
    type: Literal["message", "metrics"] = "message"


class CheckpointMetrics(BaseModel):
    step: float | None = None
    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None


class JobCheckpoint(BaseModel):
    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: CheckpointMetrics
    step_number: int


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    # The base model's folder or hub id (as vLLM's /v1/models gives it), so a client
    # such as `tunebot validate --model NAME` counts tokens with the same tokenizer.
    root: str | None = None


class ChatMessage(BaseModel):
    """Extra keys (``name``, ``tool_calls``...) are kept so the route can refuse them by name."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool = True


class ChatRequest(BaseModel):
    """``POST /v1/chat/completions``: the parameters the worker honours.

    Extra keys are kept (not refused by pydantic) so the route can name each
    unsupported parameter in a 400 (``tools``, ``response_format``...).
    """

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32768)
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    stop: str | list[str] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    n: int = Field(default=1, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: str | None = None


class TopLogprobItem(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprobItem(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprobItem]


class ChoiceLogprobs(BaseModel):
    """OpenAI's ``choices[].logprobs``: one entry per generated token."""

    content: list[TokenLogprobItem] | None = None
    refusal: list[TokenLogprobItem] | None = None


class Choice(BaseModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: Literal["stop", "length"]
    logprobs: ChoiceLogprobs | None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None


class Serving(BaseModel):
    """Chat load and totals since start; counts only, nothing that names a job or user."""

    backend: str
    max_batch_size: int
    active_requests: int
    queued_requests: int
    generated_tokens: int
    cancelled_requests: int
    batches: int
    largest_batch: int


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    device: str
    queue_length: int
    training: bool
    """Whether a training job is running (its id is not shown: this route needs no key)."""
    models: list[str]
    serving: Serving
