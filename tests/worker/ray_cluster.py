"""A real single-node Ray cluster on loopback, for the ``ray`` launcher's tests.

Why ``ray start --head --block`` in its own process group: ``ray stop`` stops
every Ray process on the machine, other people's clusters included. Here the
head runs with its own temp dir and ports; stopping it signals that process
group, then ends any process that still names this cluster's temp dir.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.worker.harness import free_port

STARTUP_SECONDS = 180


@dataclass
class RayCluster:
    address: str
    """The Jobs API (dashboard) URL the worker's ``--ray-address`` takes."""
    temp_dir: Path
    process: subprocess.Popen[bytes]

    def client(self):  # type: ignore[no-untyped-def]  # ray has no stubs
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(self.address)

    def submissions(self, job_id: str) -> list[str]:
        """Ray submission ids made for one worker job."""
        return [
            info.submission_id
            for info in self.client().list_jobs()
            if (info.metadata or {}).get("tunebot_job") == job_id
        ]


def start_ray_cluster(*, num_cpus: int, log_path: Path) -> RayCluster:
    # Short path: Ray's unix sockets live under it (108-byte limit).
    temp_dir = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    # Workers get a range of 201 ports; every other port is drawn outside it (Ray
    # refuses to start when one falls inside, as metrics_export once did).
    worker_port = free_port()
    workers = range(worker_port, worker_port + 201)

    def outside_workers() -> int:
        while (port := free_port()) in workers:
            pass
        return port

    dashboard = outside_workers()
    ports = {
        "--port": outside_workers(),
        "--dashboard-port": dashboard,
        "--node-manager-port": outside_workers(),
        "--object-manager-port": outside_workers(),
        "--ray-client-server-port": outside_workers(),
        "--dashboard-agent-listen-port": outside_workers(),
        "--dashboard-agent-grpc-port": outside_workers(),
        "--runtime-env-agent-port": outside_workers(),
        "--metrics-export-port": outside_workers(),
    }
    command = [
        str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
        "--node-ip-address", "127.0.0.1", "--dashboard-host", "127.0.0.1",
        "--temp-dir", str(temp_dir), "--num-cpus", str(num_cpus), "--num-gpus", "0",
        "--include-dashboard", "true", "--disable-usage-stats",
        "--min-worker-port", str(worker_port), "--max-worker-port", str(worker_port + 200),
        "--object-store-memory", str(200 * 1024 * 1024),
        *[part for flag, port in ports.items() for part in (flag, str(port))],
    ]  # fmt: skip
    env = {
        **os.environ,
        # Job entrypoints run `python`: this interpreter, with the project installed.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_USAGE_STATS_ENABLED": "0",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    cluster = RayCluster(f"http://127.0.0.1:{dashboard}", temp_dir, process)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ray start exited:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(cluster.address + "/api/version", timeout=2).status_code == 200:
                with contextlib.suppress(Exception):
                    cluster.client().list_jobs()
                    return cluster
        time.sleep(0.5)
    stop_ray_cluster(cluster)
    raise RuntimeError(f"Ray did not start in time:\n{log_path.read_text()[-3000:]}")


def stop_ray_cluster(cluster: RayCluster) -> None:
    """Stop its jobs, then the head's process group, then stragglers naming its temp dir."""
    from ray.job_submission import JobStatus

    with contextlib.suppress(Exception):
        client = cluster.client()
        for info in client.list_jobs():
            if info.status in (JobStatus.PENDING, JobStatus.RUNNING):
                client.stop_job(info.submission_id)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(cluster.process.pid, signal.SIGTERM)
    try:
        # `ray start --block` rarely exits on SIGTERM: every stop waited out the whole
        # timeout (30 s) before the SIGKILL below, so the wait is short.
        cluster.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.process.pid, signal.SIGKILL)
        cluster.process.wait()
    for pid in _pids_naming(str(cluster.temp_dir)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _pids_naming(text: str) -> Iterator[int]:
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "cmdline").read_bytes():
                yield int(entry.name)


def trainer_pids(job_id: str) -> list[int]:
    """Training processes of ``job_id`` (their command line names its spec)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            shell = b"\0-c\0" in cmdline  # the `sh -c` before its exec, if caught
            if b"worker.train" in cmdline and job_id.encode() in cmdline and not shell:
                found.append(int(entry.name))
    return found
