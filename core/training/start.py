"""Starting a fine-tuning job: options, spend cap, exactly-once, upload and create.

Two steps, so the caller can show progress between them and the scheduler
never sees a job without its progress message:

1. :func:`claim_job` checks the options and the monthly spend cap, then
   inserts the ``TrainingJob`` row. The row's unique ``request_id`` (the Slack
   action/view id) and ``active_key`` (dataset + options while active) make a
   double click, a retried interaction or two people pressing at once one job:
   the loser gets :class:`DuplicateRequest` or :class:`JobAlreadyActive`.
2. :func:`launch_job` uploads the dataset (split for validation when asked)
   and creates the provider job, then records the provider's ids. A provider
   error marks the row failed (freeing the active key) and is re-raised.

Who may start jobs is the caller's business (Slack user groups live in the bot).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

from sqlalchemy.engine import Engine

from core.config import Settings
from core.errors import ConfigError, NextStep, ProviderError, TrainingError
from core.evaluation.spend import model_call_spend_usd
from core.providers import Provider
from core.storage import SharedStorage
from core.store.datasets import Dataset, get_dataset, new_short_id, utcnow
from core.store.jobs import (
    TrainingJob,
    fail_job,
    insert_job_within_budget,
    job_by_active_key,
    job_by_request,
    month_spend_usd,
    update_job,
)
from core.tokens import default_epochs, known_models, resolve_model
from core.training.config import METHODS, TrainingParams
from core.validation.report import Report

_SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
MAX_VALIDATION_SPLIT = 0.5
# OpenAI's DPO ``beta`` range; the worker allows more (core.training.config).
OPENAI_MAX_BETA = 2.0
PREFERENCE_FORMAT = "preference"
# A row still "starting" after this long lost its process (crash between claim
# and launch); it no longer blocks the same dataset and options.
STALE_START = timedelta(minutes=15)


@dataclass(frozen=True)
class JobOptions:
    """What a person chose for a job; ``None`` means "let the provider pick"."""

    provider: str
    base_model: str
    n_epochs: int | None = None
    suffix: str | None = None
    validation_split: float | None = None
    lora_r: int | None = None
    load_in_4bit: bool | None = None
    seed: int = 0
    method: str = "supervised"
    beta: float | None = None

    def problems(self) -> dict[str, str]:
        """Field name -> what is wrong with it, for forms that show errors per field."""
        found: dict[str, str] = {}
        if not self.base_model.strip():
            found["base_model"] = "Pick one of the provider's base models."
        if self.suffix is not None and not _SUFFIX.match(self.suffix):
            found["suffix"] = "Use up to 40 letters, digits, '-' or '_'."
        split = self.validation_split
        if split is not None and not 0 < split <= MAX_VALIDATION_SPLIT:
            found["validation_split"] = (
                f"Use a fraction above 0 and at most {MAX_VALIDATION_SPLIT:g}, e.g. 0.1."
            )
        if self.method not in METHODS:
            found["method"] = f"Use one of: {', '.join(METHODS)}."
            return found
        if self.beta is not None and self.method != "dpo":
            found["beta"] = "Beta only applies to preference (DPO) training."
        if self.provider != "worker":
            if self.lora_r is not None or self.load_in_4bit is not None:
                found["lora_r"] = "LoRA rank and 4-bit loading only apply to the worker."
            if self.n_epochs is not None and not 1 <= self.n_epochs <= 25:
                found["n_epochs"] = "Use 1 to 25 epochs."
            if self.beta is not None and not 0 < self.beta <= OPENAI_MAX_BETA:
                found["beta"] = f"Use a beta above 0 and at most {OPENAI_MAX_BETA:g}, e.g. 0.1."
        elif not found:
            # The worker's own dataclass is the authority on its ranges.
            try:
                TrainingParams.from_hyperparameters(
                    self.hyperparameters(), seed=self.seed, method=self.method
                )
            except TrainingError as exc:
                found[_field_of(exc.message)] = exc.user_message()
        return found

    def check(self) -> None:
        """Raise TrainingError naming the first problem (see :meth:`problems`)."""
        for field_name, problem in self.problems().items():
            raise TrainingError(f"Invalid {field_name.replace('_', ' ')}: {problem}")

    def hyperparameters(self) -> dict[str, int | float | bool]:
        """Only what was chosen; the provider fills in "auto" for the rest."""
        values: dict[str, int | float | bool | None] = {
            "n_epochs": self.n_epochs,
            "beta": self.beta,
        }
        if self.provider == "worker":
            values["lora_r"] = self.lora_r
            values["lora_alpha"] = 2 * self.lora_r if self.lora_r else None
            values["load_in_4bit"] = self.load_in_4bit
        return {key: value for key, value in values.items() if value is not None}

    def key(self) -> str:
        """A short stable hash of the options (part of the active-job key)."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _field_of(message: str) -> str:
    """The option a worker range error is about (forms show it under that field)."""
    if "lora" in message:
        return "lora_r"
    return "beta" if "beta" in message else "n_epochs"


def method_for_format(dataset_format: str) -> str:
    """The training method a dataset's format calls for: preference pairs train DPO."""
    return "dpo" if dataset_format == PREFERENCE_FORMAT else "supervised"


@dataclass(frozen=True)
class StartRequest:
    """One request to start a job (a modal submission or a start command).

    ``request_id`` is Slack's id of the interaction (view id, trigger id): a
    retried delivery of the same interaction carries the same id.
    """

    request_id: str
    dataset_id: int
    options: JobOptions
    user_id: str
    team_id: str | None = None


class DuplicateRequest(TrainingError):
    """This very request already made a job (a retry or double delivery)."""

    def __init__(self, job: TrainingJob) -> None:
        super().__init__(f"This request already started job {job.short_id}.")
        self.job = job


class JobAlreadyActive(TrainingError):
    """The same dataset is already training with the same options."""

    def __init__(self, job: TrainingJob) -> None:
        super().__init__(
            f"Job {job.short_id} is already training this dataset with these options.",
            hint="Follow it in its thread, or cancel it.",
            next_step=NextStep.FOLLOW_OR_CANCEL,
            subject=job.short_id,
        )
        self.job = job


class BudgetExceeded(TrainingError):
    """The job would take this month's estimated spend over the cap."""


def estimate_job_cost(report: Report, options: JobOptions, *, settings: Settings) -> float | None:
    """Estimated USD for the job: 0 on the worker (own GPUs), ``None`` when unknown.

    Billed tokens per epoch come from the validation report; a validation split
    removes its share from training.
    """
    if options.provider == "worker":
        return 0.0
    try:
        spec = resolve_model(options.base_model, price_overrides=settings.price_overrides)
    except ConfigError:
        return None
    if spec.price_per_1m is None or report.examples <= 0:
        return None
    epochs = options.n_epochs or default_epochs(report.examples)
    share = 1.0 - (options.validation_split or 0.0)
    return report.billed_tokens_per_epoch * share * epochs / 1_000_000 * spec.price_per_1m


def costs_by_model(report: Report, *, settings: Settings) -> list[tuple[str, float]]:
    """Estimated training cost of the report's file on every priced, fine-tunable OpenAI
    model, cheapest first (at the report's epochs), so people can compare before starting."""
    found = []
    for spec in known_models():
        if spec.provider != "openai" or not spec.fine_tunable:
            continue
        priced = resolve_model(spec.id, price_overrides=settings.price_overrides)
        if priced.price_per_1m is None:
            continue
        tokens = report.billed_tokens_per_epoch * max(report.epochs, 1)
        found.append(
            (spec.aliases[0] if spec.aliases else spec.id, tokens / 1e6 * priced.price_per_1m)
        )
    return sorted(found, key=lambda item: item[1])


def check_budget(engine: Engine, *, settings: Settings, cost: float | None) -> None:
    """Refuse a job that would take this month's spend over ``monthly_budget_usd``.

    Raises:
        BudgetExceeded: over the cap (the message says by how much), or the cost
            cannot be estimated while a cap is set.
    """
    cap = settings.monthly_budget_usd
    if cap is None:
        return
    if cost is None:
        raise BudgetExceeded(
            "The cost of this job cannot be estimated, and a monthly budget is set.",
            hint="Set the model's price in TUNEBOT_PRICES, or pick a model with a known price.",
        )
    spent = month_spend_usd(engine) + model_call_spend_usd(engine, settings=settings)
    if spent + cost > cap:
        _refuse_over_budget(settings, cost=cost, spent=spent)


def _refuse_over_budget(settings: Settings, *, cost: float, spent: float) -> NoReturn:
    cap = settings.monthly_budget_usd or 0.0
    over = spent + cost - cap
    # Under a cent over would read "$0.00 over the budget".
    by = f"${over:,.2f} over" if over >= 0.005 else "just over"
    raise BudgetExceeded(
        f"This job (about ${cost:,.2f}) would take this month's estimated spend to "
        f"${spent + cost:,.2f}, {by} the ${cap:,.2f} monthly budget.",
        hint="Use fewer epochs, a smaller dataset or the worker, or ask an admin to raise "
        "TUNEBOT_MONTHLY_BUDGET_USD.",
    )


def claim_job(
    engine: Engine, request: StartRequest, *, settings: Settings, providers: dict[str, Provider]
) -> TrainingJob:
    """Check the request and insert its job row (status ``"starting"``).

    Raises:
        TrainingError: unknown dataset, dataset not ready, provider not configured,
            bad options.
        BudgetExceeded: over the monthly spend cap.
        DuplicateRequest: this request already made a job.
        JobAlreadyActive: the same dataset and options are already training.
    """
    options = request.options
    dataset = get_dataset(engine, request.dataset_id)
    if dataset is None:
        raise TrainingError("That dataset is not known.", hint="Drop the file again.")
    if options.provider not in providers:
        configured = ", ".join(providers) or "none"
        raise TrainingError(
            f"Provider {options.provider!r} is not configured (configured: {configured}).",
            hint="Pick a configured provider, or ask an admin to configure it.",
        )
    if dataset.verdict == "not_ready":
        raise TrainingError(
            f"Dataset {dataset.short_id} has errors and cannot be trained on.",
            hint="Fix the errors listed in its report and drop the file again.",
        )
    options.check()
    _check_method(dataset, options)
    report = Report.model_validate_json(dataset.report_json)
    cost = estimate_job_cost(report, options, settings=settings)
    if settings.monthly_budget_usd is not None and cost is None:
        check_budget(engine, settings=settings, cost=cost)  # refuses: cost unknown
    # A/B answers count too; they are not part of the race the lock settles.
    calls = model_call_spend_usd(engine, settings=settings)
    cap = None if settings.monthly_budget_usd is None else settings.monthly_budget_usd - calls
    for _ in range(2):
        job = _new_row(dataset, request, cost=cost, trained=report.trained_tokens)
        # One serialised step across threads and replicas (#10): the store locks,
        # reads the month's spend and inserts, or inserts nothing.
        done = insert_job_within_budget(engine, job, cap_usd=cap)
        if done.outcome == "over_budget":
            _refuse_over_budget(settings, cost=cost or 0.0, spent=done.spent_usd + calls)
        if done.outcome == "inserted":
            return job
        existing = job_by_request(engine, request_id=request.request_id)
        if existing is not None:
            raise DuplicateRequest(existing)
        active = job_by_active_key(engine, active_key=job.active_key or "")
        if active is None or not _stale(active):
            break
        fail_job(
            engine, _id(active), error={"code": "lost", "message": "The start was interrupted."}
        )
    if active is not None:
        raise JobAlreadyActive(active)
    raise TrainingError("Could not record the job.", hint="Try again.")


def _check_method(dataset: Dataset, options: JobOptions) -> None:
    """Preference files train only with DPO, and DPO only on preference files (the
    providers would fail the job in ``validating_files``; say so before uploading)."""
    wanted = method_for_format(dataset.format)
    if options.method == wanted:
        return
    if wanted == "dpo":
        raise TrainingError(
            f"Dataset {dataset.short_id} holds preference pairs, which train with DPO.",
            hint="Start it with the DPO method.",
        )
    raise TrainingError(
        f"DPO needs preference pairs, and dataset {dataset.short_id} is {dataset.format} data.",
        hint="Start it as a supervised job, or drop a preference file "
        "(input / preferred_output / non_preferred_output).",
    )


def _stale(job: TrainingJob) -> bool:
    return job.status == "starting" and job.created_at < utcnow() - STALE_START


def _new_row(
    dataset: Dataset, request: StartRequest, *, cost: float | None, trained: int
) -> TrainingJob:
    options = request.options
    return TrainingJob(
        short_id=new_short_id("job"),
        request_id=request.request_id,
        active_key=f"{dataset.id}:{options.provider}:{options.key()}",
        dataset_id=dataset.id,
        provider=options.provider,
        base_model=options.base_model,
        status="starting",
        options_json=json.dumps(asdict(options), sort_keys=True),
        team_id=request.team_id,
        channel_id=dataset.channel_id,
        thread_ts=dataset.thread_ts,
        started_by=request.user_id,
        estimated_cost_usd=cost,
        trained_tokens=trained,
    )


def launch_job(
    engine: Engine, job: TrainingJob, *, settings: Settings, providers: dict[str, Provider]
) -> TrainingJob:
    """Upload the dataset and create the provider job for a claimed row.

    Returns the updated row (provider ids and status filled in).

    Raises:
        ProviderError: the provider refused or did not answer; the row is failed.
        TrainingError: the dataset file is gone; the row is failed.
    """
    options = JobOptions(**json.loads(job.options_json))
    try:
        provider = providers[job.provider]
        with _job_files(engine, job, options, settings=settings) as (training, validation):
            training_id = provider.upload_file(training)
            validation_id = provider.upload_file(validation) if validation else None
        created = provider.create_job(
            model=options.base_model,
            training_file=training_id,
            validation_file=validation_id,
            suffix=options.suffix,
            seed=options.seed,
            hyperparameters=options.hyperparameters(),
            metadata={"tunebot_job": job.short_id},
            method=options.method,
        )
    except (ProviderError, TrainingError) as exc:
        error = {
            "code": getattr(exc, "code", None) or "start_failed",
            "message": exc.user_message(),
        }
        fail_job(engine, _id(job), error=error)
        raise
    return update_job(
        engine,
        _id(job),
        status=created.status,
        provider_job_id=created.id,
        training_file_id=training_id,
        validation_file_id=validation_id,
    )


def _id(job: TrainingJob) -> int:
    if job.id is None:
        raise TrainingError("The job row was not saved.")
    return job.id


@contextmanager
def _job_files(
    engine: Engine, job: TrainingJob, options: JobOptions, *, settings: Settings
) -> Iterator[tuple[Path, Path | None]]:
    """Local copies of the files to upload, read from shared storage (any replica's).

    A split made here is stored too (``jobs/<job>/validation.jsonl``): the
    held-out evaluation after training may run on another replica.
    """
    storage = SharedStorage.from_settings(settings)
    dataset = get_dataset(engine, job.dataset_id or -1)
    gone = TrainingError(
        "The validated dataset file is no longer stored.", hint="Drop the file again."
    )
    if dataset is None or not dataset.training_path:
        raise gone
    with ExitStack() as stack:
        try:
            training = stack.enter_context(storage.local_copy(dataset.training_path))
        except FileNotFoundError:
            raise gone from None
        if options.validation_split:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tunebot-split-")))
            train, valid = split_jsonl(
                training, fraction=options.validation_split, seed=options.seed, out_dir=tmp
            )
            storage.put(valid, split_key(job.short_id))
            yield train, valid
            return
        validation = None
        if dataset.validation_path and storage.exists(dataset.validation_path):
            validation = stack.enter_context(storage.local_copy(dataset.validation_path))
        yield training, validation


def split_key(job_short_id: str) -> str:
    """Where a job's held-out split is kept in shared storage."""
    return f"jobs/{job_short_id}/validation.jsonl"


def split_jsonl(path: Path, *, fraction: float, seed: int, out_dir: Path) -> tuple[Path, Path]:
    """Split a JSONL file into training and validation files, reproducibly.

    At least one line goes to each side.

    Raises:
        TrainingError: fewer than two examples.
    """
    # "\n" only: str.splitlines() would also cut at U+2028/U+2029/U+0085 inside a string.
    text = path.read_text(encoding="utf-8-sig")
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < 2:
        raise TrainingError(
            "Too few examples to hold some out for validation.", hint="Leave the split empty."
        )
    order = list(range(len(lines)))
    random.Random(seed).shuffle(order)
    held = max(1, min(len(lines) - 1, round(len(lines) * fraction)))
    held_out = set(order[:held])
    out_dir.mkdir(parents=True, exist_ok=True)
    train, valid = out_dir / "train.jsonl", out_dir / "validation.jsonl"
    train.write_text(
        "".join(f"{x}\n" for i, x in enumerate(lines) if i not in held_out), encoding="utf-8"
    )
    valid.write_text(
        "".join(f"{x}\n" for i, x in enumerate(lines) if i in held_out), encoding="utf-8"
    )
    return train, valid
