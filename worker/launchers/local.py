"""The ``local`` launcher: each job is a subprocess on this box, in its own process group.

Why process groups: SIGTERM/SIGKILL on the group reaches every child the
trainer starts (``accelerate launch`` ranks, data loader workers), which is the
only reliable way to stop CUDA work. On a box with several GPUs each running
job gets its own ones through ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from worker.launchers.base import Launcher, LaunchRequest, LaunchState
from worker.settings import WorkerConfig

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]


def visible_gpus() -> int:
    """GPUs torch sees here (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class LocalLauncher(Launcher):
    name = "local"

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._gpus: dict[str, list[int]] = {}
        self._gpu_count: int | None = None

    def start(self, request: LaunchRequest) -> str:
        env = dict(request.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        gpus = self._take_gpus(request.n_gpus)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
        command = trainer_command(
            self.config.python or sys.executable, request.spec_path, n_processes=request.n_gpus
        )
        with (request.job_dir / "trainer.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: signals reach every child
                cwd=str(request.job_dir),
                env=env,
            )
        handle = str(process.pid)
        self._processes[handle] = process
        self._gpus[handle] = gpus
        return handle

    def status(self, handle: str) -> LaunchState:
        process = self._processes.get(handle)
        if process is None:
            return LaunchState("unknown", reason="The worker lost track of the training process.")
        code = process.poll()
        if code is None:
            return LaunchState("running")
        self._processes.pop(handle, None)
        self._gpus.pop(handle, None)
        reason = f"exit code {code}" if code >= 0 else f"killed by {signal.Signals(-code).name}"
        return LaunchState("exited", exit_code=code, reason=reason)

    def stop(self, handle: str, *, force: bool = False) -> None:
        process = self._processes.get(handle)
        if process is not None and process.poll() is None:
            _signal_group(process.pid, signal.SIGKILL if force else signal.SIGTERM)

    def attach(self, handle: str, job_id: str) -> bool:
        """A local trainer that outlived its worker is stopped, not adopted: it is
        not our child, so its exit code could not be read. It checkpoints on the
        SIGTERM and the runner resumes the job from there."""
        if handle.isdigit() and _is_trainer_of(int(handle), job_id):
            pid = int(handle)
            logger.info("stopping orphaned trainer of %s (pid %s)", job_id, pid)
            _signal_group(pid, signal.SIGTERM)
            _wait_gone(pid, self.config.cancel_grace_seconds)
            _signal_group(pid, signal.SIGKILL)
        return False

    def max_gpus(self) -> int:
        if self._gpu_count is None:
            self._gpu_count = visible_gpus()
        return self._gpu_count

    def can_place(self, n_gpus: int, *, running: list[int]) -> bool:
        return n_gpus == 0 or n_gpus <= self.max_gpus() - sum(running)

    def close(self) -> None:
        self._processes.clear()

    def _take_gpus(self, n_gpus: int) -> list[int]:
        if n_gpus <= 0:
            return []
        busy = {gpu for gpus in self._gpus.values() for gpu in gpus}
        free = [gpu for gpu in range(self.max_gpus()) if gpu not in busy]
        return free[:n_gpus]

    def shutdown_all(self, grace: float) -> None:
        """Stop every trainer (they checkpoint) and wait up to ``grace`` seconds."""
        for process in self._processes.values():
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self._processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()


def trainer_command(
    python: str, spec: Path | str, *, n_processes: int, cpu: bool = False
) -> list[str]:
    """``python -m worker.train SPEC``, under ``accelerate launch`` for several GPUs.

    Why accelerate: it starts one DDP rank per GPU (NCCL) with the environment
    torch's distributed init expects (port 0: a free one), and the trainer code
    is the same for one process or many. ``cpu``: several gloo processes for
    tests, through torchrun, since ``accelerate launch --cpu`` starts only one.
    """
    if n_processes <= 1:
        return [python, "-m", "worker.train", str(spec)]
    if cpu:
        return [
            python, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node", str(n_processes), "-m", "worker.train", str(spec),
        ]  # fmt: skip
    return [
        python, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", str(n_processes), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
        "-m", "worker.train", str(spec),
    ]  # fmt: skip


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
