"""Runs training jobs one at a time, each in its own process group.

Why a runner thread in the API process: the queue lives in SQLite, so the
thread holds no state a restart could lose. It validates new jobs (in a
second thread, so a big file does not stall training), launches the oldest
queued job as ``python -m worker.train SPEC.json``, ingests its progress lines,
and turns its exit into a final status.

Cancel sends SIGTERM (the trainer checkpoints and exits) and SIGKILL after
``cancel_grace_seconds``. A job still ``running`` when the worker starts was
interrupted: its old process group is stopped if it survived, and it is launched
again from its last complete checkpoint (``max_attempts`` launches at most).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from core.training.config import TrainingParams
from worker.dataset import check_training_file
from worker.ingest import ingest_progress
from worker.job_spec import JobSpec, latest_checkpoint
from worker.jobs_finish import finish_job
from worker.records import JobRecord, job_method
from worker.results import job_id_from_model
from worker.settings import WorkerConfig
from worker.store import WorkerStore, now

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class _Running:
    job_id: str
    process: subprocess.Popen[bytes]
    spec: JobSpec
    term_sent_at: float | None = None


class JobRunner:
    """The queue's only consumer; see the module docstring."""

    def __init__(self, store: WorkerStore, config: WorkerConfig) -> None:
        self.store = store
        self.config = config
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._current: _Running | None = None
        self._validator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validate")
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        self.config.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._recover()
        self._thread = threading.Thread(target=self._loop, name="job-runner", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop the loop; a training process checkpoints and is resumed next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
        self._validator.shutdown(wait=False, cancel_futures=True)
        current = self._current
        if current and current.process.poll() is None:
            _signal_group(current.process.pid, signal.SIGTERM)
            try:
                current.process.wait(timeout=self.config.cancel_grace_seconds)
            except subprocess.TimeoutExpired:
                _signal_group(current.process.pid, signal.SIGKILL)
                current.process.wait()
            ingest_progress(self.store, current.job_id, current.spec.progress_path)

    @property
    def running_job_id(self) -> str | None:
        current = self._current
        return current.job_id if current else None

    def queue_length(self) -> int:
        return len(self.store.jobs_with_status(["validating_files", "queued"]))

    # --- requests -------------------------------------------------------------
    def submit(self, job_id: str) -> None:
        """Validate a new job's files in the background, then queue it."""
        self._validator.submit(self._validate, job_id)

    def cancel(self, job_id: str) -> JobRecord:
        """Request cancellation; returns the job as it is now (maybe still running)."""
        with self._lock:
            job = self.store.update_job(job_id, cancel_requested=True)
            current = self._current
            if current and current.job_id == job_id:
                if current.term_sent_at is None:
                    current.term_sent_at = time.monotonic()
                    _signal_group(current.process.pid, signal.SIGTERM)
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
            try:
                with self._lock:
                    if self._current is None:
                        self._start_next()
                    if self._current is not None:
                        self._poll(self._current)
            except Exception:  # keep the queue alive; the job at fault is failed below
                logger.exception("job runner iteration failed")
                self._fail_current("The worker hit an internal error running this job.")
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()

    def _start_next(self) -> None:
        # Interrupted jobs ("running" with no process) go before the queue.
        for job in self.store.jobs_with_status(["running", "queued"]):
            if self._stopping.is_set():
                return
            if job.cancel_requested:
                finish_job(self.store, self.config, job.id, outcome={"status": "cancelled"})
                continue
            if job.attempts >= self.config.max_attempts:
                message = (
                    f"The job was interrupted {job.attempts} times (worker restarts or crashes) "
                    "and was not resumed again. Check the worker log, then start a new job."
                )
                outcome = {"status": "failed", "error": message, "code": "interrupted"}
                finish_job(self.store, self.config, job.id, outcome=outcome)
                continue
            self._launch(job)
            return

    def _launch(self, job: JobRecord) -> None:
        job_dir = self.config.jobs_dir / job.id
        job_dir.mkdir(parents=True, exist_ok=True)
        resume = latest_checkpoint(job_dir / "checkpoints") if job.status == "running" else None
        if job.status == "running":
            where = f"from step {resume.name.split('-')[-1]}" if resume else "from the start"
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
        _end_torn_line(spec.progress_path)
        spec_path = spec.write(job_dir / "spec.json")
        with (job_dir / "trainer.log").open("ab") as log:
            process = subprocess.Popen(
                [self.config.python or sys.executable, "-m", "worker.train", str(spec_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: signals reach every child
                cwd=str(job_dir),
                env=self._child_env(),
            )
        first = job.status == "queued"
        self.store.update_job(
            job.id,
            status="running",
            started_at=job.started_at or now(),
            pid=process.pid,
            attempts=job.attempts + 1,
        )
        if first:
            self.store.add_event(job.id, "Fine-tuning job started")
        self._current = _Running(job.id, process, spec)

    def _init_adapter(self, job: JobRecord) -> Path | None:
        """The adapter folder of the ``ft:`` model a job continues (None: a new adapter)."""
        parent = job_id_from_model(job.model)
        return self.config.jobs_dir / parent / "adapter" if parent else None

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env.update(self.config.extra_env)
        return env

    def _poll(self, current: _Running) -> None:
        ingest_progress(self.store, current.job_id, current.spec.progress_path)
        code = current.process.poll()
        if code is None:
            grace_over = (
                current.term_sent_at is not None
                and time.monotonic() - current.term_sent_at > self.config.cancel_grace_seconds
            )
            if grace_over:
                _signal_group(current.process.pid, signal.SIGKILL)
            return
        ingest_progress(self.store, current.job_id, current.spec.progress_path)
        self._current = None
        if self._stopping.is_set() and current.term_sent_at is None:
            return  # shut down under it: resumed on the next start
        outcome = _read_result(current.spec) or {
            "status": "failed",
            "error": f"The training process exited unexpectedly (exit code {code}). "
            + _log_tail(current.spec.output_dir / "trainer.log"),
        }
        finish_job(self.store, self.config, current.job_id, outcome=outcome)

    def _fail_current(self, message: str) -> None:
        current, self._current = self._current, None
        if current is None:
            return
        with contextlib.suppress(Exception):
            _signal_group(current.process.pid, signal.SIGKILL)
            outcome = {"status": "failed", "error": message}
            finish_job(self.store, self.config, current.job_id, outcome=outcome)

    # --- restart recovery -----------------------------------------------------
    def _recover(self) -> None:
        for job in self.store.jobs_with_status(["running"]):
            if job.pid and _is_trainer_of(job.pid, job.id):
                logger.info("stopping orphaned trainer of %s (pid %s)", job.id, job.pid)
                _signal_group(job.pid, signal.SIGTERM)
                _wait_gone(job.pid, self.config.cancel_grace_seconds)
                _signal_group(job.pid, signal.SIGKILL)
            job_dir = self.config.jobs_dir / job.id
            ingest_progress(self.store, job.id, job_dir / "progress.jsonl")
            outcome = _read_result_file(job_dir / "result.json")
            status = outcome.get("status") if outcome else None
            # A trainer stopped by the worker's own shutdown reports "cancelled" too;
            # only a cancel someone asked for (or a real ending) is final.
            if outcome and (status in ("succeeded", "failed") or job.cancel_requested):
                finish_job(self.store, self.config, job.id, outcome=outcome)
        for job in self.store.jobs_with_status(["validating_files"]):
            self.submit(job.id)


def _json(text: str) -> dict[str, object]:
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


def _read_result(spec: JobSpec) -> dict[str, object] | None:
    return _read_result_file(spec.result_path)


def _read_result_file(path: Path) -> dict[str, object] | None:
    try:
        return _json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _log_tail(path: Path, *, lines: int = 3) -> str:
    try:
        tail = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return "Last log lines: " + " | ".join(line.strip()[:300] for line in tail)


def _end_torn_line(path: Path) -> None:
    """Close a line a killed trainer left half-written, so the next run's first
    line is not glued to it (the torn line is then skipped, the new one kept)."""
    if path.is_file() and path.stat().st_size:
        with path.open("rb+") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _is_trainer_of(pid: int, job_id: str) -> bool:
    """Whether ``pid`` is still this job's trainer (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"worker.train" in cmdline and job_id.encode() in cmdline


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
