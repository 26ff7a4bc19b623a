"""Taking in a dataset: fetch it, hash it, validate (and fix) it, store it, record it.

A front end (the Slack bot today) says where the file came from and how to
fetch it; :func:`take_in` does the rest, so every way in stores datasets the
same way. The file is fetched and validated in a temporary folder, then the
file a job trains on goes to shared storage (:mod:`core.storage`,
``TUNEBOT_STORAGE_URL``), never to this replica's disk, so any replica can
start a job from it. Layout under the storage root::

    datasets/<source id>-<8 hex>/<safe name>          the file as dropped, or
    datasets/<source id>-<8 hex>/<stem>.fixed.jsonl   the fixed/converted file
    datasets/<source id>-<8 hex>/<stem>.fixed.validation.jsonl   a split, if made

Jobs train on the fixed file when validation wrote one, else the original.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from core.config import Settings
from core.storage import SharedStorage
from core.store.datasets import Dataset, add_dataset, new_short_id
from core.validation.report import Report
from core.validation.validate import validate_file

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Origin:
    """Where a dataset came from and where its report goes.

    Parameters:
        source_id: the front end's id of the file (a Slack file id).
        file_name: the name the person gave it (untrusted; made safe for disk).
        uploader_id: who dropped it.
        channel_id, thread_ts: where its report is posted.
        team_id: the workspace, when known.
    """

    source_id: str
    file_name: str
    uploader_id: str
    channel_id: str
    thread_ts: str
    team_id: str | None = None


@dataclass(frozen=True)
class Intake:
    """A stored dataset, its report, and the fixed file when it is worth showing.

    ``fixed`` is a shared-storage location (read it with
    :meth:`core.storage.SharedStorage.local_copy`).
    """

    dataset: Dataset
    report: Report
    fixed: str | None


def safe_name(name: str) -> str:
    """A file name safe to use on disk (no path separators, no leading dots)."""
    return _UNSAFE.sub("_", name).strip("._") or "dataset"


def take_in(
    engine: Engine,
    *,
    settings: Settings,
    origin: Origin,
    fetch: Callable[[Path], int],
    progress: Callable[[int, int], None] | None = None,
    model: str | None = None,
) -> Intake:
    """Fetch, validate, store and record one dataset.

    Parameters:
        model: the model to count tokens for (default ``settings.default_model``):
            the one the team will train.
        fetch: writes the file to the given path and returns its size in bytes
            (the front end's capped download); its errors pass through.
        progress: called with (bytes done, bytes total) while validating.

    Raises:
        TunebotError: from ``fetch`` or validation (a person can act on it).
    """
    storage = SharedStorage.from_settings(settings)
    folder = f"datasets/{safe_name(origin.source_id)}-{uuid.uuid4().hex[:8]}"
    name = safe_name(origin.file_name)
    with tempfile.TemporaryDirectory(prefix="tunebot-") as tmp:
        source = Path(tmp) / name
        started = time.perf_counter()
        size = fetch(source)
        fetched = time.perf_counter()
        sha = _sha256(source)
        fix_path = Path(tmp) / "out" / (Path(name).stem + ".fixed.jsonl")
        fix_path.parent.mkdir()
        report = validate_file(source, settings=settings, model=model, progress=progress)
        if _needs_fix_pass(report):
            # The fix pass reads the file again; a clean chat JSONL skips it.
            report = validate_file(source, settings=settings, model=model, fix_path=fix_path)
        logger.info(
            "%s: %d bytes, fetch %.2fs, validation %.2fs",
            origin.source_id,
            size,
            fetched - started,
            time.perf_counter() - fetched,
        )
        if fix_path.is_file() and not report.fixed_examples:
            # Every example was dropped: an empty file is neither news nor trainable.
            fix_path.unlink()
        was_fixed = fix_path.is_file()
        local = fix_path if was_fixed else source
        training = storage.put(local, f"{folder}/{local.name}")
        if report.validation_path:
            split = Path(report.validation_path)
            report.validation_path = storage.put(split, f"{folder}/{split.name}")
    fixed = training if was_fixed and _worth_attaching(report) else None
    row = _dataset_row(origin, report, size=size, sha=sha, training=training)
    return Intake(dataset=add_dataset(engine, row), report=report, fixed=fixed)


def _dataset_row(origin: Origin, report: Report, *, size: int, sha: str, training: str) -> Dataset:
    return Dataset(
        short_id=new_short_id("ds"),
        slack_file_id=origin.source_id,
        team_id=origin.team_id,
        channel_id=origin.channel_id,
        thread_ts=origin.thread_ts,
        uploader_id=origin.uploader_id,
        file_name=origin.file_name[:512],
        size_bytes=size,
        sha256=sha,
        verdict=report.verdict,
        format=report.format,
        examples=report.examples,
        model=report.model,
        trained_tokens=report.trained_tokens,
        report_json=report.model_dump_json(),
        training_path=training,
        validation_path=report.validation_path,
    )


def _needs_fix_pass(report: Report) -> bool:
    """Whether the fixer could change anything: conversion, or any finding."""
    if not report.readable or report.examples == 0:
        return False
    return (
        report.file_type != "jsonl"
        or report.format != "chat"
        or bool(report.errors)
        or bool(report.warnings)
    )


def _worth_attaching(report: Report) -> bool:
    """A fixed file is news when something changed or the file was converted."""
    return bool(report.changes) or report.file_type != "jsonl"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
