"""Launch overhead: job created -> first training step, ``local`` vs ``ray`` launcher.

Runs the real ``tunebot worker`` twice on the tiny model, once with
``--launcher local`` and once with ``--launcher ray`` against a single-node
Ray cluster started here on loopback (``ray start --head``), and times each
job from the moment ``POST /v1/fine_tuning/jobs`` returns to the ``time`` of
its first ``metrics`` line (written by the trainer after step 1). Phases are
split where the worker records them: validation (created -> ``queued``
event), placement (-> ``Fine-tuning job started``), and trainer start-up
(-> step 1: imports, model load, first step). Runs alternate (local, ray,
local, ...) so load from other processes hits both; medians are printed.

Usage::

    python benchmarks/launch_overhead.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.worker.harness import (  # noqa: E402
    FAST_HYPERPARAMETERS,
    WorkerProcess,
    wait_final,
    write_chat_jsonl,
)
from tests.worker.ray_cluster import start_ray_cluster, stop_ray_cluster  # noqa: E402
from worker.tiny_model import write_tiny_model  # noqa: E402


def one_job(worker: WorkerProcess, root: Path) -> dict[str, float]:
    client = worker.client()
    file_id = client.files.create(
        file=write_chat_jsonl(root / "train.jsonl"), purpose="fine-tune"
    ).id
    hyper = {**FAST_HYPERPARAMETERS, "max_steps": 3}
    method = {"type": "supervised", "supervised": {"hyperparameters": hyper}}
    job = client.fine_tuning.jobs.create(model="tiny", training_file=file_id, method=method)  # type: ignore[arg-type]
    created = time.time()
    done = wait_final(client, job.id, timeout=600)
    assert done.status == "succeeded", done.error
    lines = (worker.data_dir / "jobs" / job.id / "progress.jsonl").read_text().splitlines()
    first_step = next(json.loads(x)["time"] for x in lines if '"kind": "metrics"' in x)
    page = client.fine_tuning.jobs.list_events(job.id, limit=100)
    events = {e.message: e.created_at for e in page}
    queued = events["Files validated, moving job to queued state"]
    started = events["Fine-tuning job started"]
    return {
        "to_first_step": first_step - created,
        "validation": queued - created,
        "placement": started - queued,
        "trainer_startup": first_step - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    root = Path(tempfile.mkdtemp(prefix="launch-bench-"))
    model = write_tiny_model(root / "tiny")
    cluster = start_ray_cluster(num_cpus=2, log_path=root / "ray.log")
    results: dict[str, list[dict[str, float]]] = {"local": [], "ray": []}
    try:
        workers = {
            "local": WorkerProcess(root / "local", model, root / "local.log"),
            "ray": WorkerProcess(
                root / "ray", model, root / "ray-worker.log",
                args=["--launcher", "ray", "--ray-address", cluster.address],
            ),
        }  # fmt: skip
        for worker in workers.values():
            worker.start()
        try:
            for i in range(args.repeats):
                for name, worker in workers.items():
                    run_dir = root / f"{name}-{i}"
                    run_dir.mkdir()
                    results[name].append(one_job(worker, run_dir))
                    print(f"{name} run {i + 1}: {results[name][-1]['to_first_step']:.1f} s")
        finally:
            for worker in workers.values():
                worker.stop()
    finally:
        stop_ray_cluster(cluster)

    print(f"\njob created -> first training step, tiny model, median of {args.repeats}")
    print(f"{'launcher':<8} {'total s':>8} {'validate':>9} {'place':>6} {'trainer':>8}")
    medians = {}
    for name, runs in results.items():
        row = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        medians[name] = row
        print(
            f"{name:<8} {row['to_first_step']:>8.1f} {row['validation']:>9.1f} "
            f"{row['placement']:>6.1f} {row['trainer_startup']:>8.1f}"
        )
    extra = medians["ray"]["to_first_step"] - medians["local"]["to_first_step"]
    ratio = medians["ray"]["to_first_step"] / medians["local"]["to_first_step"]
    print(f"ray adds {extra:.1f} s per job ({ratio:.2f}x local); event times are whole seconds")


if __name__ == "__main__":
    main()
