"""The launcher interface: start, status, stop, re-attach and capacity.

Why so small: a launcher only moves a process (``python -m worker.train
SPEC``) onto a machine and tells the runner whether it still lives. Progress
lines, checkpoints and the outcome go through shared storage
(:mod:`worker.storage`), so every launcher reports progress the same way and
a new one (Kubernetes Jobs, SkyPilot, Slurm) implements only these methods.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Phase = Literal["pending", "running", "exited", "unknown"]

ENV_NAMES = frozenset(
    {"PATH", "HOME", "USER", "LANG", "LANGUAGE", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV"}
)
ENV_PREFIXES = (
    "LC_",
    "HF_",  # HF_HOME, HF_HUB_OFFLINE: where models are and whether to reach the hub
    "TRANSFORMERS_",
    "TOKENIZERS_",
    "CUDA_",
    "NVIDIA_",
    "NCCL_",
    "TORCH_",
    "PYTORCH_",
    "OMP_",
    "MKL_",
    "AWS_",  # s3:// storage credentials (s3fs reads them); nothing else of the worker's
    "ACCELERATE_",
)
"""What a trainer may inherit. An allowlist, so the worker's API key, Slack
tokens and whatever else the service was started with never reach training
code or its logs (issue #10)."""


def trainer_env(source: dict[str, str] | None = None) -> dict[str, str]:
    """The variables of ``source`` (default: this process) a trainer may see."""
    env = os.environ if source is None else source
    return {k: v for k, v in env.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}


@dataclass(frozen=True)
class LaunchRequest:
    """One attempt at running one job."""

    job_id: str
    attempt: int
    """1 for the first launch; each retry or resume adds one."""
    spec_path: Path | str
    """A local spec file, or its URI in object storage."""
    job_dir: Path
    """This API's folder of the job (the trainer's working folder on a shared disk)."""
    n_gpus: int
    """GPUs the job needs (0 on CPU); also its number of training processes on GPU."""
    env: dict[str, str] = field(default_factory=dict)
    """The trainer's environment (already filtered by :func:`trainer_env`)."""


@dataclass(frozen=True)
class LaunchState:
    phase: Phase
    """``pending``: accepted, waiting for resources; ``unknown``: the launcher
    has no record of it (lost, or never started)."""
    exit_code: int | None = None
    reason: str | None = None
    """Why it ended, in the launcher's words (a Ray job's message)."""


class Launcher(ABC):
    """Starts and follows training processes; see the module docstring."""

    name: str

    def handle_for(self, request: LaunchRequest) -> str | None:
        """The id :meth:`start` will use, when it can be known in advance.

        The runner stores it before starting, so a worker that dies between
        submitting and recording never submits the same attempt twice.
        """
        return None

    @abstractmethod
    def start(self, request: LaunchRequest) -> str:
        """Start the trainer; return a handle the runner stores with the job."""

    @abstractmethod
    def status(self, handle: str) -> LaunchState: ...

    @abstractmethod
    def stop(self, handle: str, *, force: bool = False) -> None:
        """Ask the trainer to checkpoint and exit (``force``: kill it now)."""

    @abstractmethod
    def attach(self, handle: str, job_id: str) -> bool:
        """After a worker restart: follow ``handle`` again if it still exists.

        False means the process is gone (or was stopped here); the runner then
        resumes the job from its last checkpoint.
        """

    @abstractmethod
    def can_place(self, n_gpus: int, *, running: list[int]) -> bool:
        """Whether one more job of ``n_gpus`` fits next to ``running`` (their GPU counts)."""

    @abstractmethod
    def max_gpus(self) -> int:
        """The most GPUs one job can get (0: CPU only)."""

    def log_tail(self, handle: str, *, job_dir: Path, lines: int = 3) -> str:
        """The last lines the trainer printed, for a failure message."""
        try:
            text = (job_dir / "trainer.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return join_tail(text, lines=lines)

    def close(self) -> None:  # noqa: B027 (optional hook: most launchers hold nothing)
        """Release clients; running trainers keep running."""


def join_tail(text: str, *, lines: int) -> str:
    tail = [line.strip()[:300] for line in text.strip().split("\n")[-lines:] if line.strip()]
    return ("Last log lines: " + " | ".join(tail)) if tail else ""
