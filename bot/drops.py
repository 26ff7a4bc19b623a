"""A dataset dropped in Slack: download, validate, record, report in the file's thread.

Runs in :attr:`BotContext.pool`, never inside the 3-second ack. Each file gets
an hourglass reaction while it is worked on, a work-in-progress message in
its thread that becomes the report, the full JSON report as an attachment,
and the fixed JSONL when core fixed or converted anything.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.blocks.report import build_report_blocks, build_report_text
from bot.context import BotContext
from bot.slack_ops import (
    HOURGLASS,
    allowed_file_hosts,
    download_file,
    post_in_thread,
    post_wip,
    react,
    update_wip,
    upload_to_thread,
)
from core.errors import TunebotError
from core.store.datasets import Dataset, add_dataset, new_short_id
from core.training.start import costs_by_model
from core.validation.report import Report

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
PROGRESS_EVERY_S = 5.0


@dataclass(frozen=True)
class SharedFile:
    """The parts of a Slack file object the drop flow needs."""

    id: str
    name: str
    size: int
    url: str | None


@dataclass(frozen=True)
class FileDrop:
    """A ``message``/``file_share`` event reduced to what matters."""

    event_id: str
    team_id: str | None
    channel: str
    user: str
    ts: str
    thread_ts: str
    files: tuple[SharedFile, ...]


def parse_drop(body: dict[str, Any]) -> FileDrop | None:
    """The drop in an ``event_callback`` body; None when it is not a person's file share."""
    event = body.get("event") or {}
    if event.get("subtype") != "file_share" or event.get("bot_id") or not event.get("user"):
        return None
    files = tuple(
        SharedFile(
            id=str(f["id"]),
            name=str(f.get("name") or f.get("title") or f["id"]),
            size=int(f.get("size") or 0),
            url=f.get("url_private_download") or f.get("url_private"),
        )
        for f in event.get("files") or []
        if isinstance(f, dict) and f.get("id") and f.get("mode") not in ("tombstone", "external")
    )
    if not files or not body.get("event_id") or not event.get("channel"):
        return None
    return FileDrop(
        event_id=str(body["event_id"]),
        team_id=body.get("team_id"),
        channel=str(event["channel"]),
        user=str(event["user"]),
        ts=str(event["ts"]),
        thread_ts=str(event.get("thread_ts") or event["ts"]),
        files=files,
    )


def process_drop(ctx: BotContext, drop: FileDrop) -> None:
    """Validate and report every file of a drop; errors become thread messages."""
    react(ctx.client, channel=drop.channel, ts=drop.ts, name=HOURGLASS, add=True)
    try:
        for shared in drop.files:
            _process_file(ctx, drop, shared)
    finally:
        react(ctx.client, channel=drop.channel, ts=drop.ts, name=HOURGLASS, add=False)


def _process_file(ctx: BotContext, drop: FileDrop, shared: SharedFile) -> None:
    limit = ctx.settings.max_file_bytes
    if shared.size > limit:
        post_in_thread(
            ctx.client,
            channel=drop.channel,
            thread_ts=drop.thread_ts,
            text=f"❌ `{shared.name}` is {shared.size / 1e6:,.1f} MB, over the "
            f"{limit / 1e6:,.0f} MB limit for a dataset. Split it into smaller files.",
        )
        return
    wip = post_wip(
        ctx.client,
        channel=drop.channel,
        thread_ts=drop.thread_ts,
        text=f"⏳ Validating `{shared.name}`…",
    )
    try:
        dataset, report, fixed = _validate(ctx, drop, shared, wip_ts=wip)
    except TunebotError as exc:
        update_wip(ctx.client, channel=drop.channel, ts=wip, text=f"❌ {exc.user_message()}")
        return
    except Exception:
        logger.exception("validating %s failed", shared.id)
        update_wip(
            ctx.client,
            channel=drop.channel,
            ts=wip,
            text=f"❌ Something went wrong while validating `{shared.name}`. "
            "The error is logged for the admins; try dropping the file again.",
        )
        return
    _report(ctx, drop, dataset, report, fixed=fixed, wip_ts=wip)


def _progress_note(
    ctx: BotContext, drop: FileDrop, name: str, wip_ts: str
) -> Callable[[int, int], None]:
    """A validation progress callback that edits the WIP message every few seconds at most
    (chat.update is rate-limited; a big file takes minutes)."""
    last = time.monotonic()

    def note(done: int, total: int) -> None:
        nonlocal last
        if time.monotonic() - last < PROGRESS_EVERY_S or total <= 0:
            return
        last = time.monotonic()
        text = f"⏳ Validating `{name}`… {done / total:.0%}"
        try:
            update_wip(ctx.client, channel=drop.channel, ts=wip_ts, text=text)
        except SlackApiError as exc:
            logger.info("progress note skipped: %s", exc.response.get("error"))

    return note


def _validate(
    ctx: BotContext, drop: FileDrop, shared: SharedFile, *, wip_ts: str
) -> tuple[Dataset, Report, Path | None]:
    from core.validation import validate_file  # the validator's import cost stays off start-up

    settings = ctx.settings
    store = settings.data_dir / "datasets" / f"{shared.id}-{uuid.uuid4().hex[:8]}"
    store.mkdir(parents=True, exist_ok=True)
    name = _UNSAFE.sub("_", shared.name).strip("._") or "dataset"
    url = shared.url or _file_url(ctx, shared.id)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    with tempfile.TemporaryDirectory(prefix="tunebot-") as tmp:
        source = Path(tmp) / name
        started = time.perf_counter()
        size = download_file(
            url,
            token=token,
            dest=source,
            max_bytes=settings.max_file_bytes,
            allowed_hosts=allowed_file_hosts(settings),
        )
        downloaded = time.perf_counter()
        sha = _sha256(source)
        fix_path = store / (Path(name).stem + ".fixed.jsonl")
        progress = _progress_note(ctx, drop, shared.name, wip_ts)
        report = validate_file(source, settings=settings, progress=progress)
        if _needs_fix_pass(report):
            # The fix pass reads the file again; a clean chat JSONL skips it.
            report = validate_file(source, settings=settings, fix_path=fix_path)
        logger.info(
            "%s: %d bytes, download %.2fs, validation %.2fs",
            shared.id,
            size,
            downloaded - started,
            time.perf_counter() - downloaded,
        )
        # Jobs train on the fixed/converted file when core wrote one, else the original.
        training = fix_path if fix_path.is_file() else Path(shutil.move(source, store / name))
        fixed = fix_path if fix_path.is_file() and _worth_attaching(report) else None
    dataset = _dataset_row(drop, shared, report, size=size, sha=sha, training=training)
    return add_dataset(ctx.engine, dataset), report, fixed


def _dataset_row(
    drop: FileDrop, shared: SharedFile, report: Report, *, size: int, sha: str, training: Path
) -> Dataset:
    return Dataset(
        short_id=new_short_id("ds"),
        slack_file_id=shared.id,
        team_id=drop.team_id,
        channel_id=drop.channel,
        thread_ts=drop.thread_ts,
        uploader_id=drop.user,
        file_name=shared.name[:512],
        size_bytes=size,
        sha256=sha,
        verdict=report.verdict,
        format=report.format,
        examples=report.examples,
        model=report.model,
        trained_tokens=report.trained_tokens,
        report_json=report.model_dump_json(),
        training_path=str(training),
        validation_path=_validation_path(report),
    )


def _needs_fix_pass(report: Report) -> bool:
    """Whether core's fixer could change anything: conversion, or any finding."""
    if not getattr(report, "readable", True) or report.examples == 0:
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


def _validation_path(report: Report) -> str | None:
    # The validator may write a held-out split; the field is optional in its contract.
    path = getattr(report, "validation_path", None)
    return str(path) if path else None


def _file_url(ctx: BotContext, file_id: str) -> str:
    """Events may omit the download URL ("check_file_info"); ask files.info."""
    info = ctx.client.files_info(file=file_id)["file"]
    url = info.get("url_private_download") or info.get("url_private")
    if not url:
        raise TunebotError("Slack did not give me a download link for the file.")
    return str(url)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _report(
    ctx: BotContext,
    drop: FileDrop,
    dataset: Dataset,
    report: Report,
    *,
    fixed: Path | None,
    wip_ts: str,
) -> None:
    blocks = build_report_blocks(
        report,
        dataset_short_id=dataset.short_id,
        providers=list(ctx.providers),
        fixed_file=fixed is not None,
        costs=costs_by_model(report, settings=ctx.settings),
    )
    text = build_report_text(report, dataset_short_id=dataset.short_id)
    update_wip(ctx.client, channel=drop.channel, ts=wip_ts, text=text, blocks=blocks)
    stem = Path(dataset.file_name).stem or "dataset"
    try:
        upload_to_thread(
            ctx.client,
            channel=drop.channel,
            thread_ts=drop.thread_ts,
            filename=f"{stem}.report.json",
            title=f"Validation report for {dataset.file_name}",
            content=report.model_dump_json(indent=2).encode(),
        )
        if fixed is not None:
            upload_to_thread(
                ctx.client,
                channel=drop.channel,
                thread_ts=drop.thread_ts,
                filename=f"{stem}.fixed.jsonl",
                title=f"Fixed {dataset.file_name} ({len(report.changes):,} changes)",
                path=fixed,
            )
    except SlackApiError as exc:
        logger.warning(
            "attaching files for %s failed: %s", dataset.short_id, exc.response.get("error")
        )
