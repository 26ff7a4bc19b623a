"""Runs training jobs through a launcher, up to ``max_concurrent_jobs`` at once.

Why a runner thread in the API process: the queue lives in SQLite, so the
thread holds no state a restart could lose. It validates new jobs (in a
second thread, so a big file does not stall training), starts queued jobs in
queue order through the launcher (:mod:`worker.launchers`: a local
subprocess or a Ray job), ingests their progress lines and turns each exit
into a final status. A job waits in ``queued`` until the launcher has placed
it; the head of the queue is never overtaken by a smaller job behind it.

Cancel asks the launcher to stop the trainer (SIGTERM: it checkpoints and
exits) and forces it after ``cancel_grace_seconds``. A trainer that dies
without writing its outcome (killed, node lost) is started again from its
last complete checkpoint, ``max_attempts`` launches at most, then the job
fails with the reason. After a worker restart, jobs whose trainer still runs
(Ray) are followed again by their stored handle; others resume from their
last checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.training.config import TrainingParams
from worker.dataset import check_training_file
from worker.ingest import ingest_progress
from worker.job_spec import JobSpec, latest_checkpoint
from worker.jobs_finish import finish_job
from worker.launchers import Launcher, LaunchRequest, make_launcher
from worker.launchers.base import trainer_env
from worker.records import JobRecord, job_method
from worker.results import job_id_from_model
from worker.settings import WorkerConfig
from worker.storage import SYNC_SECONDS, Storage, adapter_path, end_torn_line
from worker.store import WorkerStore, now

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25
LAUNCH_RETRY_SECONDS = 5.0
"""Pause before submitting again when the launcher refused (cluster unreachable)."""


@dataclass
class _Running:
    job_id: str
    handle: str
    spec: JobSpec
    n_gpus: int
    placed: bool = False
    """The launcher reported it running (until then the job shows ``queued``)."""
    term_sent_at: float | None = None
    kill_sent: bool = False
    fetched_at: float = 0.0
    """When progress was last fetched from object storage (monotonic seconds)."""
    epoch_logged: int = 0
    event_seq: int = 0
    """The last metrics event already looked at for the console's epoch lines."""
    model: str = ""


class JobRunner:
    """The queue's only consumer; see the module docstring."""

    def __init__(
        self, store: WorkerStore, config: WorkerConfig, launcher: Launcher | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.launcher = launcher or make_launcher(config)
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._running: dict[str, _Running] = {}
        self._retry_reason: dict[str, str] = {}
        self._launch_paused_until = 0.0
        self._validator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validate")
        self._thread: threading.Thread | None = None
        self.storage = Storage(config.storage_uri) if config.remote_storage else None

    # --- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        self.config.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._recover()
        self._thread = threading.Thread(target=self._loop, name="job-runner", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop the loop. Local trainers checkpoint and are resumed next start;
        Ray jobs keep running and are followed again next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
        self._validator.shutdown(wait=False, cancel_futures=True)
        from worker.launchers.local import LocalLauncher

        if isinstance(self.launcher, LocalLauncher):
            self.launcher.shutdown_all(self.config.cancel_grace_seconds)
            for current in list(self._running.values()):
                ingest_progress(self.store, current.job_id, current.spec.progress_path)
        self.launcher.close()

    @property
    def running_job_id(self) -> str | None:
        return next(iter(self._running), None)

    def queue_length(self) -> int:
        return len(self.store.jobs_with_status(["validating_files", "queued"]))

    def concurrency(self) -> int:
        """Jobs allowed to train at once (see ``WorkerConfig.max_concurrent_jobs``)."""
        if self.config.max_concurrent_jobs:
            return self.config.max_concurrent_jobs
        capacity = getattr(self.launcher, "capacity", None)
        return capacity() if callable(capacity) else 1

    def has_gpus(self) -> bool:
        """Whether jobs train on GPUs (this box's for local, the cluster's for Ray)."""
        return self.config.device != "cpu" and self.launcher.max_gpus() > 0

    def _gpus_of(self, job: JobRecord) -> int:
        return job_gpus(_json(job.params_json), has_gpus=self.has_gpus())

    # --- requests -------------------------------------------------------------
    def submit(self, job_id: str) -> None:
        """Validate a new job's files in the background, then queue it."""
        self._validator.submit(self._validate, job_id)

    def cancel(self, job_id: str) -> JobRecord:
        """Request cancellation; returns the job as it is now (maybe still running)."""
        with self._lock:
            job = self.store.update_job(job_id, cancel_requested=True)
            current = self._running.get(job_id)
            if current is not None:
                if current.term_sent_at is None:
                    current.term_sent_at = time.monotonic()
                    self.launcher.stop(current.handle)
                    self.store.add_event(job_id, "Cancellation requested; saving a checkpoint")
                return job
            if job.status in ("validating_files", "queued", "running"):
                return finish_job(self.store, self.config, job_id, outcome={"status": "cancelled"})
            return job

    # --- validation -----------------------------------------------------------
    def _validate(self, job_id: str) -> None:
        job = self.store.get(JobRecord, job_id)
        if job is None or job.status != "validating_files":
            return
        for param in ("training_file", "validation_file"):
            file_id = getattr(job, param)
            if not file_id:
                continue
            path = self.config.files_dir / file_id
            if path.is_file():
                self.store.add_event(job_id, f"Validating {param.replace('_', ' ')}: {file_id}")
                try:
                    problem = check_training_file(
                        path,
                        base_model=job.base_model,
                        max_seq_length=TrainingParams(**_json(job.params_json)).max_seq_length,
                        method=job_method(job),
                    )
                except Exception:  # a validator bug must fail the job, not the worker
                    logger.exception("validation of %s crashed", file_id)
                    problem = "The worker could not validate this file (see the worker log)."
            else:
                problem = f"The file {file_id} was deleted before the job started."
            if problem:
                outcome = {"status": "failed", "error": problem, "code": f"invalid_{param}"}
                with self._lock:
                    finish_job(self.store, self.config, job_id, outcome=outcome, param=param)
                return
        with self._lock:
            job = self.store.get(JobRecord, job_id)
            if job and job.status == "validating_files" and not job.cancel_requested:
                self.store.update_job(job_id, status="queued")
                self.store.add_event(job_id, "Files validated, moving job to queued state")
        self._wake.set()

    # --- the loop -------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            for current in list(self._running.values()):
                try:
                    with self._lock:
                        self._poll(current)
                except Exception:  # keep the queue alive; the job at fault is failed
                    logger.exception("following job %s failed", current.job_id)
                    self._fail(current, "The worker hit an internal error running this job.")
            try:
                with self._lock:
                    self._start_next()
            except Exception:
                logger.exception("starting the next job failed")
                self._launch_paused_until = time.monotonic() + LAUNCH_RETRY_SECONDS
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()

    def _start_next(self) -> None:
        """Start queued jobs in order while they fit; interrupted ones count as queued."""
        if time.monotonic() < self._launch_paused_until:
            return
        for job in self.store.jobs_with_status(["running", "queued"]):
            if self._stopping.is_set() or len(self._running) >= self.concurrency():
                return
            if job.id in self._running:
                continue
            if job.cancel_requested:
                finish_job(self.store, self.config, job.id, outcome={"status": "cancelled"})
                continue
            if job.attempts >= self.config.max_attempts:
                reason = self._retry_reason.pop(job.id, None)
                last = f"; last: {reason}" if reason else ""
                message = (
                    f"The training process was interrupted {job.attempts} times "
                    f"(worker restarts, crashes or lost nodes{last}) "
                    "and was not started again. Check the worker log, then start a new job."
                )
                outcome = {"status": "failed", "error": message, "code": "interrupted"}
                finish_job(self.store, self.config, job.id, outcome=outcome)
                continue
            n_gpus = self._gpus_of(job)
            running = [r.n_gpus for r in self._running.values()]
            if not self.launcher.can_place(n_gpus, running=running):
                return  # the head of the queue waits; nothing behind it overtakes
            self._launch(job, n_gpus)

    def _launch(self, job: JobRecord, n_gpus: int) -> None:
        job_dir = self.config.jobs_dir / job.id
        job_dir.mkdir(parents=True, exist_ok=True)
        resume = self._latest_checkpoint(job.id, job_dir) if job.attempts else None
        if job.attempts:
            where = f"from step {resume.name.split('-')[-1]}" if resume else "from the start"
            reason = self._retry_reason.pop(job.id, None)
            if reason:
                self.store.add_event(
                    job.id,
                    f"The training process ended unexpectedly ({reason}); retrying {where} "
                    f"(attempt {job.attempts + 1} of {self.config.max_attempts})",
                    level="warn",
                )
            else:
                self.store.add_event(job.id, f"The worker restarted; resuming training {where}")
        init_adapter = self._init_adapter(job)
        if init_adapter is not None and not init_adapter.is_dir():
            message = f"The adapter of {job.model} was deleted from the worker; it cannot continue."
            outcome = {"status": "failed", "error": message}
            finish_job(self.store, self.config, job.id, outcome=outcome)
            return
        spec = JobSpec(
            job_id=job.id,
            base_model=job.base_model,
            training_file=self.config.files_dir / job.training_file,
            validation_file=(
                self.config.files_dir / job.validation_file if job.validation_file else None
            ),
            output_dir=job_dir,
            params=TrainingParams(**_json(job.params_json)),
            resume_from=resume,
            device=self.config.device,
            method=job_method(job),
            init_adapter=init_adapter,
        )
        spec.result_path.unlink(missing_ok=True)  # a resumed run writes its own outcome
        end_torn_line(spec.progress_path)
        spec_path: Path | str = spec.write(job_dir / "spec.json")
        if self.storage is not None:
            spec_path = self._publish_spec(job, spec)
        request = LaunchRequest(
            job_id=job.id,
            attempt=job.attempts + 1,
            spec_path=spec_path,
            job_dir=job_dir,
            n_gpus=n_gpus,
            env={**trainer_env(), **self.config.extra_env},
        )
        planned = self.launcher.handle_for(request)
        if planned is not None:  # recorded first: a restart re-attaches, never resubmits
            self.store.update_job(job.id, launch_id=planned, attempts=request.attempt)
        try:
            handle = self.launcher.start(request)
        except Exception as exc:
            if planned is not None:
                self.store.update_job(job.id, launch_id=None, attempts=job.attempts)
            logger.warning(
                "could not start %s with the %s launcher: %s", job.id, self.launcher.name, exc
            )
            self._launch_paused_until = time.monotonic() + LAUNCH_RETRY_SECONDS
            return
        pid = int(handle) if handle.isdigit() else None
        self.store.update_job(job.id, launch_id=handle, pid=pid, attempts=request.attempt)
        current = _Running(job.id, handle, spec, n_gpus, model=job.model)
        self._running[job.id] = current
        logger.info(
            "job %s (model %s): launched with %s as %s, attempt %d",
            job.id, job.model, self.launcher.name, handle, request.attempt,
        )  # fmt: skip
        self._poll(current)

    def _latest_checkpoint(self, job_id: str, job_dir: Path) -> Path | None:
        if self.storage is None:
            return latest_checkpoint(job_dir / "checkpoints")
        key = self.storage.latest_checkpoint(f"jobs/{job_id}/checkpoints")
        return Path(key) if key else None

    def _publish_spec(self, job: JobRecord, spec: JobSpec) -> str:
        """Write the spec a remote trainer reads: storage keys instead of local paths."""
        assert self.storage is not None
        parent = job_id_from_model(job.model)  # the ft: model it continues, if any
        remote = dataclasses.replace(
            spec,
            training_file=Path("files", job.training_file),
            validation_file=Path("files", job.validation_file) if job.validation_file else None,
            output_dir=Path("jobs", job.id),
            init_adapter=Path("jobs", parent, "adapter") if parent else None,
        )
        self.storage.rm(f"jobs/{job.id}/result.json")
        local = remote.write(spec.output_dir / "spec.remote.json")
        self.storage.put_file(local, f"jobs/{job.id}/spec.json")
        return f"{self.storage.uri}/jobs/{job.id}/spec.json"

    def _fetch_outputs(self, job_id: str, job_dir: Path) -> None:
        """Bring a remote trainer's progress lines and outcome to the local job folder."""
        if self.storage is None:
            return
        self.storage.get_file(f"jobs/{job_id}/progress.jsonl", job_dir / "progress.jsonl")
        if not self.storage.get_file(f"jobs/{job_id}/result.json", job_dir / "result.json"):
            (job_dir / "result.json").unlink(missing_ok=True)

    def _mark_placed(self, current: _Running) -> None:
        current.placed = True
        job = self.store.get(JobRecord, current.job_id)
        if job is None or job.status == "running":
            return
        self.store.update_job(job.id, status="running", started_at=job.started_at or now())
        self.store.add_event(job.id, "Fine-tuning job started")
        logger.info("job %s (model %s): running", job.id, job.model)

    def _init_adapter(self, job: JobRecord) -> Path | None:
        """The adapter folder of the ``ft:`` model a job continues (None: a new adapter);
        with object storage, downloaded here first so its absence is caught now."""
        parent = job_id_from_model(job.model)
        return adapter_path(self.config, parent) if parent else None

    def _poll(self, current: _Running) -> None:
        if time.monotonic() - current.fetched_at >= SYNC_SECONDS:  # a remote trainer's pace
            current.fetched_at = time.monotonic()
            self._fetch_outputs(current.job_id, current.spec.output_dir)
        ingest_progress(self.store, current.job_id, current.spec.progress_path)
        self._log_epoch(current)
        state = self.launcher.status(current.handle)
        if state.phase in ("pending", "running"):
            if state.phase == "running" and not current.placed:
                self._mark_placed(current)
            grace_over = (
                current.term_sent_at is not None
                and time.monotonic() - current.term_sent_at > self.config.cancel_grace_seconds
            )
            if grace_over and not current.kill_sent:
                current.kill_sent = True
                self.launcher.stop(current.handle, force=True)
            return
        self._fetch_outputs(current.job_id, current.spec.output_dir)
        ingest_progress(self.store, current.job_id, current.spec.progress_path)
        del self._running[current.job_id]
        if self._stopping.is_set() and current.term_sent_at is None:
            return  # shut down under it: resumed on the next start
        outcome = _read_result_file(current.spec.result_path)
        job = self.store.get(JobRecord, current.job_id)
        assert job is not None
        reason = state.reason or "no reason given"
        tail = self.launcher.log_tail(current.handle, job_dir=current.spec.output_dir)
        if outcome is None and not job.cancel_requested:
            # Died without an outcome: killed, out of memory, node lost. Retry
            # from the last checkpoint; _start_next fails it after max_attempts.
            self._retry_reason[job.id] = f"{reason}. {tail}".strip(" .")
            if job.status != "running":
                self.store.update_job(job.id, status="running", started_at=job.started_at or now())
            logger.warning("job %s (model %s): trainer died (%s)", job.id, job.model, reason)
            self._wake.set()
            return
        outcome = outcome or {
            "status": "failed",
            "error": f"The training process exited unexpectedly ({reason}). {tail}".strip(),
        }
        finish_job(self.store, self.config, current.job_id, outcome=outcome)

    def _log_epoch(self, current: _Running) -> None:
        """One console line per finished epoch: job, model, step, loss."""
        epochs = current.spec.params.n_epochs
        for event in self.store.events_since(current.job_id, current.event_seq, type_="metrics"):
            current.event_seq = event.seq or current.event_seq
            data = json.loads(event.data_json or "{}")
            step, total, loss = data.get("step"), data.get("total_steps"), data.get("train_loss")
            if not isinstance(step, int) or not isinstance(total, int) or not total:
                continue
            epoch = min(epochs, step * epochs // total)
            if epoch > current.epoch_logged:
                current.epoch_logged = epoch
                shown = f"{loss:.4f}" if isinstance(loss, int | float) else "n/a"
                logger.info(
                    "job %s (model %s): epoch %d/%d done, step %d/%d, training loss %s",
                    current.job_id, current.model, epoch, epochs, step, total, shown,
                )  # fmt: skip

    def _fail(self, current: _Running, message: str) -> None:
        self._running.pop(current.job_id, None)
        with contextlib.suppress(Exception):
            self.launcher.stop(current.handle, force=True)
            outcome = {"status": "failed", "error": message}
            finish_job(self.store, self.config, current.job_id, outcome=outcome)

    # --- restart recovery -----------------------------------------------------
    def _recover(self) -> None:
        for job in self.store.jobs_with_status(["running", "queued"]):
            handle = job.launch_id or (str(job.pid) if job.pid else None)
            if not handle:
                continue
            job_dir = self.config.jobs_dir / job.id
            if self.launcher.attach(handle, job.id):
                spec = JobSpec.read(job_dir / "spec.json")
                current = _Running(job.id, handle, spec, self._gpus_of(job), model=job.model)
                current.placed = job.status == "running"
                self._running[job.id] = current
                self.store.add_event(job.id, "The worker restarted; following the training again")
                logger.info("job %s: re-attached to %s", job.id, handle)
                continue
            self._fetch_outputs(job.id, job_dir)
            ingest_progress(self.store, job.id, job_dir / "progress.jsonl")
            outcome = _read_result_file(job_dir / "result.json")
            status = outcome.get("status") if outcome else None
            # A trainer stopped by the worker's own shutdown reports "cancelled" too;
            # only a cancel someone asked for (or a real ending) is final.
            if outcome and (status in ("succeeded", "failed") or job.cancel_requested):
                finish_job(self.store, self.config, job.id, outcome=outcome)
        for job in self.store.jobs_with_status(["validating_files"]):
            self.submit(job.id)


def job_gpus(params: dict[str, object], *, has_gpus: bool) -> int:
    """GPUs a job trains on: ``n_gpus`` (default 1) where there are GPUs, else none."""
    if not has_gpus:
        return 0
    n_gpus = params.get("n_gpus")
    return n_gpus if isinstance(n_gpus, int) and n_gpus > 0 else 1


def _json(text: str) -> dict[str, Any]:
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


def _read_result_file(path: Path) -> dict[str, object] | None:
    try:
        return _json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
