"""How a training job's process starts, and where: the worker's scaling seam.

The API and the runner speak only to :class:`~worker.launchers.base.Launcher`
(start, status, stop, re-attach, capacity); progress and results travel
through shared storage, never through the launcher. ``local`` starts
``python -m worker.train SPEC`` as a subprocess on this box; ``ray`` submits
the same command to a Ray cluster through its Jobs API. Kubernetes Jobs,
SkyPilot or Slurm fit the same interface (submit a command with a GPU count,
poll it, stop it, find it again by a stored id) and need no change in the API
or the runner: add a module here and a name in :func:`make_launcher`.
"""

from __future__ import annotations

from worker.launchers.base import Launcher, LaunchRequest, LaunchState
from worker.settings import WorkerConfig

LAUNCHERS = ("local", "ray")


def make_launcher(config: WorkerConfig) -> Launcher:
    """The launcher ``config.launcher`` names (``local`` or ``ray``)."""
    if config.launcher == "ray":
        from worker.launchers.ray import RayLauncher

        return RayLauncher(config)
    from worker.launchers.local import LocalLauncher

    return LocalLauncher(config)


__all__ = ["LAUNCHERS", "LaunchRequest", "LaunchState", "Launcher", "make_launcher"]
