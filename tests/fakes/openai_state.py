"""State of the fake OpenAI API: files, fine-tuning jobs and models, with OpenAI's checks.

Operations take parsed input and return a JSON-able body or raise
:class:`ApiError` with OpenAI's error shape, so the real ``openai`` SDK maps
it to the same exception class (BadRequestError, NotFoundError, ...) as
against api.openai.com.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.fakes.openai_jobs import FakeJob, JobScript, new_id

__all__ = ["ApiError", "OpenAIState", "Responder", "missing_parameter", "parse_limit"]

Responder = Callable[[list[dict[str, Any]], dict[str, Any]], str]
PURPOSES = ("fine-tune", "assistants", "batch", "vision", "user_data", "evals")
DEFAULT_FINE_TUNABLE = {
    "gpt-4.1-2025-04-14": "gpt-4.1-2025-04-14",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14": "gpt-4.1-nano-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4o-2024-08-06": "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18": "gpt-4o-mini-2024-07-18",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo-0125": "gpt-3.5-turbo-0125",
}
DEFAULT_CHAT_MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-3.5-turbo",
)
# OpenAI's hyperparameters per method type; anything else is a 400, as on the real API.
METHOD_HYPERPARAMETERS = {
    "supervised": ("batch_size", "learning_rate_multiplier", "n_epochs"),
    "dpo": ("batch_size", "learning_rate_multiplier", "n_epochs", "beta"),
}
PREFERENCE_KEYS = ("input", "preferred_output", "non_preferred_output")
PERMISSION_DENIED_MESSAGE = (
    "You do not have access to fine-tuning. Creating new fine-tuning jobs is no longer available "
    "to your organization."
)


class ApiError(Exception):
    """An OpenAI error answer: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {
            "error": {"message": message, "type": type_, "param": param, "code": code}
        }
        self.headers = headers or {}


def missing_parameter(param: str) -> ApiError:
    """OpenAI's answer to a request without a required parameter."""
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def _page(items: list[dict[str, Any]], *, after: str | None, limit: int) -> dict[str, Any]:
    """OpenAI cursor pagination over newest-first ``items``: ``after`` = id, continue past it."""
    start = 0
    if after:
        ids = [i["id"] for i in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    page = items[start : start + limit]
    return {
        "object": "list",
        "data": page,
        "has_more": start + limit < len(items),
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


def parse_limit(raw: str | None, *, default: int = 20) -> int:
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        raise ApiError(
            400, f"Invalid 'limit': expected an integer, got {raw!r}.", param="limit"
        ) from None
    if not 1 <= value <= 100:
        raise ApiError(400, "Invalid 'limit': must be between 1 and 100.", param="limit")
    return value


class OpenAIState:
    """Files, jobs and models of one fake organisation, behind one lock."""

    def __init__(
        self, *, organization: str, fine_tunable: dict[str, str], chat_models: tuple[str, ...]
    ) -> None:
        self.lock = threading.RLock()
        self.organization = organization
        self.fine_tunable = dict(fine_tunable)
        self.models: dict[str, dict[str, Any]] = {}
        for model in list(dict.fromkeys([*fine_tunable, *fine_tunable.values(), *chat_models])):
            self.add_model(model, owned_by="system")
        self.files: dict[str, dict[str, Any]] = {}
        self.file_bytes: dict[str, bytes] = {}
        self.pending: dict[str, int] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.default_script = JobScript()
        self.next_scripts: list[JobScript] = []
        self.permission_denied: str | None = None
        self.responders: dict[str, tuple[Responder | None, float]] = {}

    def add_model(self, model_id: str, *, owned_by: str) -> None:
        self.models[model_id] = {
            "id": model_id,
            "object": "model",
            "created": 1721172741,
            "owned_by": owned_by,
        }

    # ---- files -------------------------------------------------------------
    def create_file(
        self, filename: str, content: bytes, purpose: str, *, pending_retrieves: int = 0
    ) -> dict[str, Any]:
        """Store an upload; with ``pending_retrieves`` it reads "pending" that often (Azure)."""
        if purpose not in PURPOSES:
            raise ApiError(
                400, f"'{purpose}' is not one of {list(PURPOSES)} - 'purpose'", param="purpose"
            )
        if purpose == "fine-tune":
            self._check_jsonl(filename, content)
        info = self.store_file(filename, content, purpose)
        if pending_retrieves > 0:
            with self.lock:
                self.files[info["id"]]["status"] = info["status"] = "pending"
                self.pending[info["id"]] = pending_retrieves
        return info

    def store_file(self, filename: str, content: bytes, purpose: str) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": new_id("file-", 22),
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }
        with self.lock:
            self.files[info["id"]] = info
            self.file_bytes[info["id"]] = content
        return copy.deepcopy(info)

    @staticmethod
    def _check_jsonl(filename: str, content: bytes) -> None:
        """The light check OpenAI does at upload: every line one JSON object."""
        invalid = ApiError(
            400, "Invalid file format for Fine-Tuning API. Must be .jsonl", code="invalid_file"
        )
        try:
            lines = [line for line in content.decode("utf-8").splitlines() if line.strip()]
        except UnicodeDecodeError:
            raise invalid from None
        if not lines:
            raise invalid
        for line in lines:
            try:
                if not isinstance(json.loads(line), dict):
                    raise invalid
            except json.JSONDecodeError:
                raise invalid from None

    def file(self, file_id: str) -> dict[str, Any]:
        with self.lock:
            if file_id not in self.files:
                raise ApiError(404, f"No such File object: {file_id}", param="id")
            return self.files[file_id]

    def retrieve_file(self, file_id: str) -> dict[str, Any]:
        """GET /files/{id}: a pending (Azure) import advances one step per retrieve."""
        with self.lock:
            info = self.file(file_id)
            if file_id in self.pending:
                self.pending[file_id] -= 1
                if self.pending[file_id] <= 0:
                    del self.pending[file_id]
                    info["status"] = "processed"
            return copy.deepcopy(info)

    def list_files(self, *, purpose: str | None, after: str | None, limit: int) -> dict[str, Any]:
        with self.lock:
            items = [
                copy.deepcopy(f)
                for f in reversed(self.files.values())
                if purpose in (None, f["purpose"])
            ]
        return _page(items, after=after, limit=limit)

    def delete_file(self, file_id: str) -> dict[str, Any]:
        with self.lock:
            self.file(file_id)
            del self.files[file_id]
            del self.file_bytes[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    # ---- jobs --------------------------------------------------------------
    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        for param in ("model", "training_file"):
            if not body.get(param):
                raise missing_parameter(param)
        if self.permission_denied is not None:
            raise ApiError(403, self.permission_denied, code="permission_denied")
        model = str(body["model"])
        base = self.fine_tunable.get(model)
        if base is None and model.startswith("ft:") and model in self.models:
            base = model
        if base is None:
            raise ApiError(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                param="model",
                code="model_not_available",
            )
        for param in ("training_file", "validation_file"):
            if body.get(param) is not None:
                self._check_job_file(param, str(body[param]))
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64):
            raise ApiError(400, "suffix must be a string of at most 64 characters.", param="suffix")
        hyper = self._hyperparameters(body)
        method = str((body.get("method") or {}).get("type") or "supervised")
        file_error = self._training_file_error(method, str(body["training_file"]))
        with self.lock:
            script = (
                self.next_scripts.pop(0)
                if self.next_scripts
                else copy.deepcopy(self.default_script)
            )
            job = FakeJob(
                id=new_id("ftjob-"),
                model=base,
                training_file=str(body["training_file"]),
                validation_file=body.get("validation_file"),
                hyperparameters=hyper,
                suffix=suffix,
                seed=int(body.get("seed") or secrets.randbelow(2**31)),
                metadata=body.get("metadata"),
                organization_id=self.organization,
                script=script,
                method=method,
                file_error=file_error,
            )
            self.jobs[job.id] = job
            return job.to_dict()

    def _check_job_file(self, param: str, file_id: str) -> None:
        with self.lock:
            info = self.files.get(file_id)
        if info is None:
            raise ApiError(400, f"invalid {param}: {file_id}", param=param, code="invalid_file")
        if info["purpose"] != "fine-tune":
            raise ApiError(
                400,
                f"File {file_id} has purpose '{info['purpose']}'; fine-tuning needs "
                "purpose 'fine-tune'.",
                param=param,
                code="invalid_file",
            )
        if info["status"] != "processed":
            raise ApiError(
                400,
                f"File {file_id} is not ready for fine-tuning yet (status "
                f"'{info['status']}'); wait until it is 'processed'.",
                param=param,
                code="invalid_file_status",
            )

    def _training_file_error(self, method: str, file_id: str) -> dict[str, Any] | None:
        """Why validation will fail the job: OpenAI reads the file in ``validating_files``,
        so a preference file under ``supervised`` (or a chat file under ``dpo``) is a
        failed job, not a 400."""
        with self.lock:
            content = self.file_bytes.get(file_id, b"")
        rows = [json.loads(line) for line in content.decode("utf-8").splitlines() if line.strip()]
        preference = [all(k in row for k in PREFERENCE_KEYS) for row in rows]
        if method == "dpo" and not all(preference):
            line = preference.index(False) + 1
            message = (
                f"Invalid file format. Line {line}: a DPO training file needs 'input', "
                "'preferred_output' and 'non_preferred_output'."
            )
        elif method == "supervised" and any(preference):
            message = (
                f"Invalid file format. Line {preference.index(True) + 1}: preference data "
                "trains with method 'dpo'."
            )
        else:
            return None
        return {"code": "invalid_training_file", "param": "training_file", "message": message}

    @staticmethod
    def _hyperparameters(body: dict[str, Any]) -> dict[str, Any]:
        method = body.get("method") or {}
        if method and method.get("type") not in METHOD_HYPERPARAMETERS:
            raise ApiError(
                400, f"Invalid method type: {method.get('type')!r}.", param="method.type"
            )
        kind = str(method.get("type") or "supervised")
        extra = sorted(set(method) - {"type", kind})
        if extra:
            raise ApiError(
                400, f"Unrecognized request argument supplied: method.{extra[0]}", param="method"
            )
        nested = (method.get(kind, {}) or {}).get("hyperparameters", {}) if method else {}
        if kind == "dpo":
            unknown = sorted(set(nested or {}) - set(METHOD_HYPERPARAMETERS["dpo"]))
            if unknown:
                raise ApiError(
                    400,
                    f"Unrecognized hyperparameter for method dpo: {unknown[0]}.",
                    param=f"method.dpo.hyperparameters.{unknown[0]}",
                )
        hyper = {
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
            "n_epochs": "auto",
            **(body.get("hyperparameters") or {}),
            **(nested or {}),
        }
        limits = {
            "n_epochs": (1, 50),
            "batch_size": (1, 256),
            "learning_rate_multiplier": (1e-6, 10),
            "beta": (1e-6, 2),
        }
        if kind == "dpo":
            hyper.setdefault("beta", "auto")
        for key, (low, high) in limits.items():
            if key not in hyper:
                continue
            value = hyper[key]
            if value == "auto":
                continue
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not low <= value <= high
            ):
                raise ApiError(
                    400,
                    f"Invalid value for '{key}': expected 'auto' or a number between {low} "
                    f"and {high}, got {value!r}.",
                    param=f"hyperparameters.{key}",
                )
        return hyper

    def job(self, job_id: str) -> FakeJob:
        with self.lock:
            if job_id not in self.jobs:
                raise ApiError(
                    404, f"Fine-tuning job {job_id} not found", param="fine_tuning_job_id"
                )
            return self.jobs[job_id]

    def tick(self, job: FakeJob, ticks: int = 1) -> None:
        with self.lock:
            for _ in range(ticks):
                was_final = job.is_final
                job.tick()
                if job.is_final and not was_final:
                    self._on_final(job)

    def _on_final(self, job: FakeJob) -> None:
        if job.status == "succeeded" and job.fine_tuned_model:
            self.add_model(job.fine_tuned_model, owned_by=job.organization_id)
            result = self.store_file("step_metrics.csv", job.result_csv or b"", "fine-tune-results")
            job.result_files.append(result["id"])

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self.job(job_id)
            if job.is_final:
                raise ApiError(
                    400, f"Job has already completed: {job_id}", param="fine_tuning_job_id"
                )
            job.cancel()
            return job.to_dict()

    def list_jobs(self, *, after: str | None, limit: int) -> dict[str, Any]:
        with self.lock:
            items = [j.to_dict() for j in reversed(self.jobs.values())]
        page = _page(items, after=after, limit=limit)
        return {"object": "list", "data": page["data"], "has_more": page["has_more"]}

    def job_events(self, job_id: str, *, after: str | None, limit: int) -> dict[str, Any]:
        with self.lock:
            events = copy.deepcopy(list(reversed(self.job(job_id).events)))
        page = _page(events, after=after, limit=limit)
        return {"object": "list", "data": page["data"], "has_more": page["has_more"]}

    def job_checkpoints(self, job_id: str, *, after: str | None, limit: int) -> dict[str, Any]:
        with self.lock:
            checkpoints = copy.deepcopy(list(reversed(self.job(job_id).checkpoints)))
        return _page(checkpoints, after=after, limit=limit)
