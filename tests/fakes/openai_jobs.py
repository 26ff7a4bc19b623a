"""Scripted fine-tuning jobs for the fake OpenAI API.

Why scripted: the progress scheduler's tests need jobs that move through
``validating_files -> queued -> running -> succeeded`` (or fail, or get
cancelled) deterministically and fast, emitting the same events OpenAI does
(``message`` events, ``metrics`` events with step/loss data, checkpoints).
A job advances one *tick* at a time; who ticks it (each retrieve, the test,
or the clock) is decided by :class:`FakeOpenAI`.
"""

from __future__ import annotations

import base64
import math
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FakeJob", "JobScript"]

Outcome = Literal["succeeded", "failed", "cancelled"]
FINAL = frozenset({"succeeded", "failed", "cancelled"})
_ALNUM = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


@dataclass
class JobScript:
    """How a job created on the fake will behave.

    Parameters
    ----------
    outcome:
        ``"succeeded"``, ``"failed"`` (``error`` set, at validation unless
        ``fail_at_step``) or ``"cancelled"`` (cancelled outside the bot after
        ``cancel_at_step`` steps, e.g. by someone in the OpenAI dashboard).
    total_steps:
        Training steps; epoch boundaries are ``total_steps / n_epochs``.
    n_epochs:
        Used when the job asked for ``"auto"`` epochs.
    steps_per_tick:
        Steps (and metrics events) one tick of a running job covers.
    queue_ticks:
        Ticks spent ``queued`` before running.
    tokens_per_step:
        Tokens per step, for ``trained_tokens``.
    error:
        The job's ``error`` when it fails (OpenAI shape: code, message, param).
    """

    outcome: Outcome = "succeeded"
    total_steps: int = 10
    n_epochs: int = 2
    steps_per_tick: int = 5
    queue_ticks: int = 1
    tokens_per_step: int = 2048
    fail_at_step: int | None = None
    cancel_at_step: int | None = None
    error: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.total_steps < 1 or self.steps_per_tick < 1 or self.n_epochs < 1:
            raise ValueError("total_steps, steps_per_tick and n_epochs must be >= 1")

    def cancel_step(self) -> int:
        """The step after which an ``outcome="cancelled"`` job is cancelled (default: halfway)."""
        return self.total_steps // 2 if self.cancel_at_step is None else self.cancel_at_step

    def failure(self) -> dict[str, Any]:
        if self.error is not None:
            return dict(self.error)
        if self.fail_at_step is None:
            return {
                "code": "invalid_training_file",
                "param": "training_file",
                "message": "The job failed due to an invalid training file. Expected file to have "
                "JSONL format with prompt/completion keys or chat messages.",
            }
        return {
            "code": "server_error",
            "param": None,
            "message": "The job failed due to an internal error. Please try again.",
        }


def loss_at(step: int, total: int) -> float:
    """A smooth, deterministic falling loss curve."""
    return round(0.25 + 2.0 * math.exp(-3.0 * step / total), 4)


@dataclass
class FakeJob:
    """One fine-tuning job and its event log (oldest first; the API serves newest first)."""

    id: str
    model: str
    training_file: str
    validation_file: str | None
    hyperparameters: dict[str, Any]
    suffix: str | None
    seed: int
    metadata: dict[str, str] | None
    organization_id: str
    script: JobScript
    created_at: int = field(default_factory=lambda: int(time.time()))
    status: str = "validating_files"
    step: int = 0
    ticks_in_status: int = 0
    finished_at: int | None = None
    fine_tuned_model: str | None = None
    error: dict[str, Any] | None = None
    result_files: list[str] = field(default_factory=list)
    estimated_finish: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    result_csv: bytes | None = None
    method: str = "supervised"
    # Set when the training file does not suit the method: the job fails validation with it.
    file_error: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self._event("message", f"Created fine-tuning job: {self.id}")
        self._event("message", f"Validating training file: {self.training_file}")

    # ---- events ----------------------------------------------------------
    def _event(
        self, kind: str, message: str, *, data: dict[str, Any] | None = None, level: str = "info"
    ) -> None:
        self.events.append(
            {
                "object": "fine_tuning.job.event",
                "id": new_id("ftevent-"),
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data if data is not None else {},
                "type": kind,
            }
        )

    @property
    def n_epochs(self) -> int:
        value = self.hyperparameters.get("n_epochs", "auto")
        return self.script.n_epochs if value in (None, "auto") else int(value)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    # ---- lifecycle ---------------------------------------------------------
    def tick(self) -> None:
        """Advance one stage (or ``steps_per_tick`` training steps)."""
        if self.is_final:
            return
        self.ticks_in_status += 1
        if self.status == "validating_files":
            if self.file_error is not None:
                self.error = dict(self.file_error)
                self._event("message", self.error["message"], level="error")
                self._finish("failed")
            elif self.script.outcome == "failed" and self.script.fail_at_step is None:
                self._fail()
            else:
                self._move("queued")
                self._event("message", "Files validated, moving job to queued state")
        elif self.status == "queued":
            if self.ticks_in_status >= self.script.queue_ticks:
                self._move("running")
                self._resolve_hyperparameters()
                self._event("message", "Fine-tuning job started")
                self._estimate()
        elif self.status == "running":
            self._train()

    def _move(self, status: str) -> None:
        self.status, self.ticks_in_status = status, 0

    def _resolve_hyperparameters(self) -> None:
        resolved = {"batch_size": 1, "learning_rate_multiplier": 1.8, "n_epochs": self.n_epochs}
        for key, default in resolved.items():
            if self.hyperparameters.get(key) in (None, "auto"):
                self.hyperparameters[key] = default

    def _estimate(self) -> None:
        remaining_ticks = math.ceil(
            (self.script.total_steps - self.step) / self.script.steps_per_tick
        )
        self.estimated_finish = int(time.time()) + 60 * max(remaining_ticks, 1)

    def _train(self) -> None:
        script = self.script
        for _ in range(script.steps_per_tick):
            if script.outcome == "cancelled" and self.step >= script.cancel_step():
                self.cancel()
                return
            if script.outcome == "failed" and self.step >= (script.fail_at_step or 0):
                self._fail()
                return
            self.step += 1
            self._metrics(self.step)
            if self.step >= script.total_steps:
                self._succeed()
                return
        self._estimate()

    def _metrics(self, step: int) -> None:
        total = self.script.total_steps
        loss = loss_at(step, total)
        data: dict[str, Any] = {
            "step": step,
            "total_steps": total,
            "train_loss": loss,
            "train_mean_token_accuracy": round(min(0.99, 1.1 - loss / 2.5), 4),
        }
        message = f"Step {step}/{total}: training loss={loss:.2f}"
        if self.validation_file:
            data["valid_loss"] = round(loss * 1.08, 4)
            data["valid_mean_token_accuracy"] = round(min(0.99, 1.08 - loss / 2.5), 4)
            message += f", validation loss={data['valid_loss']:.2f}"
        epoch_end = self.epoch(step) != self.epoch(step - 1) or step == total
        if self.validation_file and epoch_end:
            data["full_valid_loss"] = round(loss * 1.1, 4)
            data["full_valid_mean_token_accuracy"] = round(min(0.99, 1.05 - loss / 2.5), 4)
            message += f", full validation loss={data['full_valid_loss']:.2f}"
        self._event("metrics", message, data=data)
        if epoch_end:
            self._checkpoint(step, data)

    def epoch(self, step: int) -> int:
        """Completed epochs after ``step`` steps."""
        return step * self.n_epochs // self.script.total_steps

    def _checkpoint(self, step: int, metrics: dict[str, Any]) -> None:
        name = f"{self._model_name()}:ckpt-step-{step}"
        self.checkpoints.append(
            {
                "object": "fine_tuning.job.checkpoint",
                "id": new_id("ftckpt_"),
                "created_at": int(time.time()),
                "fine_tuned_model_checkpoint": name,
                "step_number": step,
                "metrics": {k: v for k, v in metrics.items() if k not in ("total_steps",)},
                "fine_tuning_job_id": self.id,
            }
        )
        self._event("message", f"Checkpoint created at step {step}")

    def _model_name(self) -> str:
        org = self.organization_id.removeprefix("org-").lower()
        return f"ft:{self.model}:{org}:{self.suffix or ''}:{self.id[-8:]}"

    def _succeed(self) -> None:
        self.fine_tuned_model = self._model_name()
        self._event("message", f"New fine-tuned model created: {self.fine_tuned_model}")
        self._event("message", "Fine-tuning job successfully completed")
        self._finish("succeeded")
        rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
        for event in reversed(self.events):
            if event["type"] == "metrics":
                d = event["data"]
                rows.append(
                    f"{d['step']},{d['train_loss']},{d['train_mean_token_accuracy']},"
                    f"{d.get('valid_loss', '')},{d.get('valid_mean_token_accuracy', '')}"
                )
        # OpenAI serves the result file's content base64-encoded.
        self.result_csv = base64.b64encode(
            "\n".join(rows[:1] + sorted(rows[1:], key=_step)).encode()
        )

    def _fail(self) -> None:
        self.error = self.script.failure()
        self._event("message", self.error["message"], level="error")
        self._finish("failed")

    def cancel(self) -> None:
        """Cancel (by the API or externally); no-op when final."""
        if self.is_final:
            return
        self._event("message", "Fine-tuning job cancelled")
        self._finish("cancelled")

    def _finish(self, status: str) -> None:
        self._move(status)
        self.finished_at = int(time.time())
        self.estimated_finish = None

    def trained_tokens(self) -> int | None:
        if self.status != "succeeded":
            return None
        return self.script.total_steps * self.script.tokens_per_step

    def to_dict(self) -> dict[str, Any]:
        hyper = dict(self.hyperparameters)
        return {
            "object": "fine_tuning.job",
            "id": self.id,
            "model": self.model,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": self.organization_id,
            "result_files": list(self.result_files),
            "status": self.status,
            "validation_file": self.validation_file,
            "training_file": self.training_file,
            "hyperparameters": hyper,
            "trained_tokens": self.trained_tokens(),
            "error": dict(self.error) if self.error else None,
            "user_provided_suffix": self.suffix,
            "seed": self.seed,
            "estimated_finish": self.estimated_finish,
            "integrations": [],
            "metadata": self.metadata,
            "method": {"type": self.method, self.method: {"hyperparameters": hyper}},
        }


def _step(row: str) -> int:
    return int(row.split(",", 1)[0])
