"""Shared storage for uploads, checkpoints, adapters and results, through fsspec.

Why two modes: with the default (the data dir) or a folder every node mounts
(``file://``), trainers read and write the job folder directly and nothing is
copied. With object storage (``s3://`` through s3fs) a trainer may run on a
node that shares no disk with the API, so both sides keep a local copy of
what they need and sync it: the trainer (:func:`run_remote`) downloads its
inputs and last checkpoint to a scratch folder, uploads ``progress.jsonl``
every few seconds, each checkpoint once complete, and the adapter and
``result.json`` at the end; the API (:class:`Storage`) uploads files, fetches
progress and results while it follows a job, and downloads an adapter before
serving it (:func:`adapter_path`).

Keys are paths relative to the storage root: ``files/<file id>``,
``jobs/<job id>/{spec.json,progress.jsonl,result.json,checkpoints/,adapter/}``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SYNC_SECONDS = 2.0
"""How often a remote trainer uploads its progress lines and new checkpoints."""
COMPLETE_MARKER = "trainer_state.json"
"""Written last by the HF Trainer; uploaded last, so a half-copied checkpoint never counts."""


def is_remote(uri: str | None) -> bool:
    """Whether ``uri`` names object storage rather than a local or mounted folder."""
    return bool(uri) and "://" in str(uri) and not str(uri).startswith("file://")


class Storage:
    """One fsspec filesystem and a root inside it."""

    def __init__(self, uri: str) -> None:
        import fsspec

        self.uri = uri.rstrip("/")
        fs, root = fsspec.core.url_to_fs(self.uri)
        self.fs: Any = fs
        self.root = str(root).rstrip("/")

    def path(self, key: str) -> str:
        return f"{self.root}/{key.lstrip('/')}"

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    def put_file(self, local: Path, key: str) -> None:
        self.fs.put_file(str(local), self.path(key))

    def get_file(self, key: str, local: Path) -> bool:
        """Download ``key`` to ``local``; False when it does not exist."""
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.fs.get_file(self.path(key), str(local))
        except FileNotFoundError:
            return False
        return True

    def put_dir(self, local: Path, key: str) -> None:
        """Upload a folder; ``trainer_state.json`` last (see :data:`COMPLETE_MARKER`)."""
        files = sorted(p for p in local.rglob("*") if p.is_file())
        files.sort(key=lambda p: p.name == COMPLETE_MARKER)
        for path in files:
            self.put_file(path, f"{key}/{path.relative_to(local).as_posix()}")

    def get_dir(self, key: str, local: Path) -> bool:
        """Download a folder; False when it does not exist."""
        base = self.path(key)
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return False
        if not found:
            return False
        for remote in found:
            relative = str(remote)[len(base) :].lstrip("/")
            self.get_file(f"{key}/{relative}", local / relative)
        return True

    def rm(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path(key), recursive=True)

    def latest_checkpoint(self, key: str) -> str | None:
        """Key of the highest complete ``checkpoint-N`` under ``key``, or None."""
        try:
            names = [str(p).rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.path(key))]
        except FileNotFoundError:
            return None
        steps = [
            int(name.split("-")[-1])
            for name in names
            if name.startswith("checkpoint-") and name.split("-")[-1].isdigit()
        ]
        for step in sorted(steps, reverse=True):
            if self.exists(f"{key}/checkpoint-{step}/{COMPLETE_MARKER}"):
                return f"{key}/checkpoint-{step}"
        return None


# --- the trainer's side -------------------------------------------------------


def run_remote(spec_uri: str) -> int:
    """Train a job whose spec and files are in object storage (``python -m worker.train s3://…``).

    The spec's paths are storage keys; this copies them to a scratch folder,
    trains there with :func:`worker.trainer.main` and keeps storage in sync.
    """
    from worker.job_spec import JobSpec
    from worker.trainer import main

    root, _, spec_key = spec_uri.rpartition("/jobs/")
    storage = Storage(root)
    scratch = Path(tempfile.mkdtemp(prefix="tunebot-job-"))
    try:
        spec_path = scratch / "spec.json"
        if not storage.get_file("jobs/" + spec_key, spec_path):
            print(f"spec not found: {spec_uri}", file=sys.stderr)
            return 2
        remote = JobSpec.read(spec_path)
        job_key = remote.output_dir.as_posix()
        local = dataclasses.replace(
            remote,
            training_file=_fetch(storage, remote.training_file, scratch / "training.jsonl"),
            validation_file=(
                _fetch(storage, remote.validation_file, scratch / "validation.jsonl")
                if remote.validation_file
                else None
            ),
            output_dir=scratch / "job",
            resume_from=None,
            init_adapter=None,
        )
        if remote.init_adapter is not None:  # the ft: model this job continues
            target = scratch / "init_adapter"
            if not storage.get_dir(remote.init_adapter.as_posix(), target):
                raise FileNotFoundError(f"{remote.init_adapter} is missing from {storage.uri}")
            local = dataclasses.replace(local, init_adapter=target)
        local.output_dir.mkdir()
        if remote.resume_from is not None:
            target = local.checkpoints_dir / remote.resume_from.name
            storage.get_dir(remote.resume_from.as_posix(), target)
            local = dataclasses.replace(local, resume_from=target)
        # Continue the same progress file so the API's byte offset stays valid.
        storage.get_file(f"{job_key}/progress.jsonl", local.progress_path)
        end_torn_line(local.progress_path)
        syncer = _Syncer(storage, local, job_key)
        syncer.start()
        try:
            code = main(local)
        finally:
            syncer.stop()
        return code
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fetch(storage: Storage, key: Path, local: Path) -> Path:
    if not storage.get_file(key.as_posix(), local):
        raise FileNotFoundError(f"{key} is missing from storage {storage.uri}")
    return local


class _Syncer:
    """Uploads a local job folder's progress, checkpoints and outcome to storage."""

    def __init__(self, storage: Storage, spec: Any, job_key: str) -> None:
        self.storage = storage
        self.spec = spec
        self.job_key = job_key
        self._done: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="storage-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Final upload: checkpoints, adapter, result, then the progress lines."""
        self._stop.set()
        self._thread.join(timeout=60)
        self.sync()
        if self.spec.adapter_dir.is_dir():
            self.storage.put_dir(self.spec.adapter_dir, f"{self.job_key}/adapter")
        if self.spec.result_path.is_file():
            self.storage.put_file(self.spec.result_path, f"{self.job_key}/result.json")

    def _run(self) -> None:
        while not self._stop.wait(SYNC_SECONDS):
            try:
                self.sync()
            except Exception:  # storage hiccup: the next round tries again
                logger.exception("syncing %s to storage failed", self.job_key)

    def sync(self) -> None:
        checkpoints = self.spec.checkpoints_dir
        if checkpoints.is_dir():
            for folder in sorted(checkpoints.glob("checkpoint-*")):
                if folder.name in self._done or not (folder / COMPLETE_MARKER).is_file():
                    continue
                self.storage.put_dir(folder, f"{self.job_key}/checkpoints/{folder.name}")
                self._done.add(folder.name)
        # After the checkpoints: a "checkpoint" line never names one not yet uploaded.
        if self.spec.progress_path.is_file():
            self.storage.put_file(self.spec.progress_path, f"{self.job_key}/progress.jsonl")


def end_torn_line(path: Path) -> None:
    """Close a line a killed trainer left half-written, so the next run's first
    line is not glued to it (the torn line is then skipped, the new one kept)."""
    if path.is_file() and path.stat().st_size:
        with path.open("rb+") as handle:
            handle.seek(-1, 2)
            if handle.read(1) != b"\n":
                handle.write(b"\n")


# --- the API's side -----------------------------------------------------------


def adapter_path(config: Any, job_id: str) -> Path:
    """The local folder of a job's adapter, downloaded from object storage if needed.

    Inference calls this, so a model trained on any node is served here.
    """
    local = Path(config.jobs_dir) / job_id / "adapter"
    if config.remote_storage and not (local / "adapter_config.json").is_file():
        partial = local.with_name("adapter.partial")
        shutil.rmtree(partial, ignore_errors=True)
        if Storage(config.storage_uri).get_dir(f"jobs/{job_id}/adapter", partial):
            shutil.rmtree(local, ignore_errors=True)
            partial.rename(local)
    return local
