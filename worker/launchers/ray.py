"""The ``ray`` launcher: each job attempt is a Ray job, submitted through the Jobs API.

Why the Jobs API (``JobSubmissionClient``) rather than Ray tasks: the trainer
stays the same ``python -m worker.train SPEC`` process as on one box, Ray
places it where its GPUs are free (``entrypoint_num_gpus``), and submission,
status, logs and stop are plain HTTP calls to the head node, so the worker API
needs no Ray driver and survives restarts without owning any Ray state.

The runtime environment pins the worker's own code with ``py_modules``: the
``worker`` and ``core`` packages this API process runs are uploaded (Ray
caches them by content hash, once per version) and put first on the
trainer's ``PYTHONPATH``. A node therefore needs only the third-party
libraries (``pip install 'tunebot[train]'`` or the worker image), and a job
never trains with different code than the API that accepted it. ``working_dir``
would ship the whole checkout (tests, benchmarks) and change the trainer's
folder; ``pip`` in the runtime env would build a virtualenv per job.

Submission ids are ``tunebot-<job>-<attempt>``, stored before submitting, so a
restarted API finds its jobs again (:meth:`RayLauncher.attach`) and a job is
never submitted twice for the same attempt.
"""

from __future__ import annotations

import logging
import math
import shlex
import time
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from worker.launchers.base import Launcher, LaunchRequest, LaunchState, join_tail
from worker.launchers.local import trainer_command
from worker.settings import WorkerConfig
from worker.storage import is_remote

logger = logging.getLogger(__name__)

PACKAGES = ("worker", "core")
REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_LOCAL_ENV = frozenset({"PATH", "HOME", "USER", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV"})
"""Variables that describe this machine, not the job: each Ray node has its own."""
RESOURCES_TTL = 10.0
"""Seconds the cluster's size is cached (nodes come and go rarely)."""


def connect(address: str | None) -> Any:
    """A Jobs API client for ``address`` (None: RAY_ADDRESS, then a local cluster).

    Raises:
        ConfigError: the cluster cannot be reached, with what to check.
    """
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # Ray raises ConnectionError, ValueError or RuntimeError
        raise ConfigError(
            f"Cannot reach the Ray cluster at {address or 'RAY_ADDRESS / a local cluster'}: "
            f"{str(exc).splitlines()[0][:200]}",
            hint="Give the head's Jobs API, e.g. --ray-address http://HEAD:8265, "
            "and check that `ray start --head` runs there.",
        ) from exc


class RayLauncher(Launcher):
    name = "ray"

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.client = connect(config.ray_address)
        self._resources: tuple[float, list[dict[str, float]]] | None = None

    def handle_for(self, request: LaunchRequest) -> str:
        return f"tunebot-{request.job_id}-{request.attempt}"

    def start(self, request: LaunchRequest) -> str:
        handle = self.handle_for(request)
        if self._known(handle):
            return handle  # submitted before a restart; never a second submission
        command = trainer_command("python", request.spec_path, n_processes=request.n_gpus)
        entrypoint = f"exec {shlex.join(command)}"
        if not is_remote(str(request.spec_path)):
            # A shared folder: the trainer runs in its job folder, as with the local launcher.
            entrypoint = f"cd {shlex.quote(str(request.job_dir))} && {entrypoint}"
        env = {k: v for k, v in request.env.items() if k not in NODE_LOCAL_ENV}
        # The grace a cancelled trainer gets to checkpoint before Ray's SIGKILL.
        env["RAY_JOB_STOP_WAIT_TIME_S"] = str(math.ceil(self.config.cancel_grace_seconds))
        runtime_env: dict[str, Any] = {
            "py_modules": [str(REPO_ROOT / name) for name in PACKAGES],
            "env_vars": env,
        }
        self.client.submit_job(
            entrypoint=entrypoint,
            submission_id=handle,
            runtime_env=runtime_env,
            entrypoint_num_gpus=request.n_gpus,
            entrypoint_num_cpus=self.config.ray_cpus_per_job,
            metadata={"tunebot_job": request.job_id, "attempt": str(request.attempt)},
        )
        logger.info("submitted %s to Ray as %s", request.job_id, handle)
        return handle

    def status(self, handle: str) -> LaunchState:
        from ray.job_submission import JobStatus

        info = self._info(handle)
        if info is None:
            return LaunchState("unknown", reason=f"Ray has no job {handle}.")
        if info.status == JobStatus.PENDING:
            return LaunchState("pending")
        if info.status == JobStatus.RUNNING:
            return LaunchState("running")
        code = info.driver_exit_code
        if info.status == JobStatus.SUCCEEDED:
            return LaunchState("exited", exit_code=0 if code is None else code)
        reason = f"Ray job {handle} {info.status.value.lower()}: {info.message or 'no message'}"
        return LaunchState("exited", exit_code=1 if code is None else code, reason=reason)

    def stop(self, handle: str, *, force: bool = False) -> None:
        # Ray sends SIGTERM, then SIGKILL after RAY_JOB_STOP_WAIT_TIME_S (set
        # per job at submission); a second stop changes nothing, so ``force``
        # relies on that timer.
        try:
            self.client.stop_job(handle)
        except RuntimeError as exc:  # already finished, or the head is unreachable
            logger.warning("stopping Ray job %s: %s", handle, exc)

    def attach(self, handle: str, job_id: str) -> bool:
        return self._known(handle)

    def can_place(self, n_gpus: int, *, running: list[int]) -> bool:
        """Whether the cluster's total resources hold one more job.

        A rough, whole-cluster check; Ray makes the exact placement and a job
        it cannot place yet stays ``queued`` (Ray ``PENDING``).
        """
        total_cpus, nodes = self._cluster()
        cpus = self.config.ray_cpus_per_job
        if (len(running) + 1) * cpus > total_cpus + 1e-9:
            return False
        if n_gpus == 0:
            return True
        total_gpus = sum(node.get("GPU", 0.0) for node in nodes)
        return sum(running) + n_gpus <= total_gpus

    def max_gpus(self) -> int:
        """The most GPUs on one node: a job's ranks run on one node."""
        _, nodes = self._cluster()
        return int(max((node.get("GPU", 0.0) for node in nodes), default=0))

    def capacity(self) -> int:
        """Jobs the cluster can run at once (by CPUs per job), at least 1."""
        total_cpus, _ = self._cluster()
        return max(1, int(total_cpus // self.config.ray_cpus_per_job))

    def log_tail(self, handle: str, *, job_dir: Path, lines: int = 3) -> str:
        try:
            return join_tail(self.client.get_job_logs(handle), lines=lines)
        except RuntimeError:
            return super().log_tail(handle, job_dir=job_dir, lines=lines)

    # --- helpers --------------------------------------------------------------
    def _info(self, handle: str) -> Any:
        try:
            return self.client.get_job_info(handle)
        except RuntimeError as exc:
            if "does not exist" in str(exc) or "404" in str(exc):
                return None
            raise

    def _known(self, handle: str) -> bool:
        return self._info(handle) is not None

    def _cluster(self) -> tuple[float, list[dict[str, float]]]:
        """(total CPUs, per-node resources) of the alive nodes, cached briefly."""
        cached = self._resources
        if cached is not None and time.monotonic() - cached[0] < RESOURCES_TTL:
            return self._totals(cached[1])
        from ray.util.state import list_nodes

        address = self.client.get_address()
        nodes = [
            dict(node.resources_total)
            for node in list_nodes(address=address, filters=[("state", "=", "ALIVE")])
        ]
        self._resources = (time.monotonic(), nodes)
        return self._totals(nodes)

    @staticmethod
    def _totals(nodes: list[dict[str, float]]) -> tuple[float, list[dict[str, float]]]:
        return sum(node.get("CPU", 0.0) for node in nodes), nodes
