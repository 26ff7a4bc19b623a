"""A dataset dropped in Slack: download, take in (core), report in the file's thread.

Runs in :attr:`BotContext.pool`, never inside the 3-second ack. Each file gets
an hourglass reaction while it is worked on, a work-in-progress message in
its thread that becomes the report, the full JSON report as an attachment,
and the fixed JSONL when core fixed or converted anything.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.blocks.report import build_report_blocks, build_report_text
from bot.blocks.text import error_text, plural
from bot.context import BotContext
from bot.slack_ops import (
    HOURGLASS,
    allowed_file_hosts,
    download_file,
    post_in_thread,
    post_wip,
    react,
    tell_user,
    update_wip,
    upload_to_thread,
)
from core.datasets.intake import Intake, Origin, take_in
from core.errors import ConfigError, TunebotError
from core.storage import SharedStorage
from core.store.datasets import find_dataset
from core.tokens.worker_models import worker_base_models
from core.training.refusals import offered_providers
from core.training.start import costs_by_model

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 5.0
READY_REACTION = "white_check_mark"
NOT_READY_REACTION = "x"


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
    """Validate and report every file of a drop; errors become thread messages.

    The file's message ends with ✅ when every file is ready to fine-tune and ❌
    otherwise, so the channel shows the outcome without opening the thread.
    """
    react(ctx.client, channel=drop.channel, ts=drop.ts, name=HOURGLASS, add=True)
    ready = False
    try:
        ready = all([_process_file(ctx, drop, shared) for shared in drop.files])
    finally:
        react(ctx.client, channel=drop.channel, ts=drop.ts, name=HOURGLASS, add=False)
        verdict = READY_REACTION if ready else NOT_READY_REACTION
        react(ctx.client, channel=drop.channel, ts=drop.ts, name=verdict, add=True)


def _process_file(ctx: BotContext, drop: FileDrop, shared: SharedFile) -> bool:
    """Validate one file and post its report; True when it is ready to fine-tune."""
    limit = ctx.settings.max_file_bytes
    if shared.size > limit:
        post_in_thread(
            ctx.client,
            channel=drop.channel,
            thread_ts=drop.thread_ts,
            text=f"❌ `{shared.name}` is {shared.size / 1e6:,.1f} MB, over the "
            f"{limit / 1e6:,.0f} MB limit for a dataset. Split it into smaller files.",
        )
        return False
    wip = post_wip(
        ctx.client,
        channel=drop.channel,
        thread_ts=drop.thread_ts,
        text=f"⏳ Validating `{shared.name}`…",
    )
    started = time.perf_counter()
    try:
        intake = _validate(ctx, drop, shared, wip_ts=wip)
    except TunebotError as exc:
        ctx.metrics.validated(
            verdict="refused", seconds=time.perf_counter() - started, size_bytes=0
        )
        update_wip(ctx.client, channel=drop.channel, ts=wip, text=f"❌ {error_text(exc)}")
        return False
    except Exception:
        seconds = time.perf_counter() - started
        ctx.metrics.validated(verdict="error", seconds=seconds, size_bytes=0)
        logger.exception("validating %s failed", shared.id)
        update_wip(
            ctx.client,
            channel=drop.channel,
            ts=wip,
            text=f"❌ Something went wrong while validating `{shared.name}`. "
            "The error is logged for the admins; try dropping the file again.",
        )
        return False
    ctx.metrics.validated(
        verdict=intake.dataset.verdict,
        seconds=time.perf_counter() - started,
        size_bytes=intake.dataset.size_bytes,
    )
    _report(ctx, drop.channel, drop.thread_ts, intake, wip_ts=wip)
    return intake.report.verdict != "not_ready"


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


def _validate(ctx: BotContext, drop: FileDrop, shared: SharedFile, *, wip_ts: str) -> Intake:
    settings = ctx.settings
    url = shared.url or _file_url(ctx, shared.id)
    token = ctx.client.token or ""  # the dropping workspace's (bot.slack_clients)

    def fetch(dest: Path) -> int:
        return download_file(
            url,
            token=token,
            dest=dest,
            max_bytes=settings.max_file_bytes,
            allowed_hosts=allowed_file_hosts(settings),
        )

    origin = Origin(
        source_id=shared.id,
        file_name=shared.name,
        uploader_id=drop.user,
        channel_id=drop.channel,
        thread_ts=drop.thread_ts,
        team_id=drop.team_id,
    )
    return take_in(
        ctx.engine,
        settings=settings,
        origin=origin,
        fetch=fetch,
        progress=_progress_note(ctx, drop, shared.name, wip_ts),
        model=counting_model(ctx),
    )


def counting_model(ctx: BotContext) -> str | None:
    """The model to count tokens for: the worker's default model when the worker is the
    default provider (that is what the team trains), else ``TUNEBOT_DEFAULT_MODEL``.

    The worker names its base models' folders or hub ids in ``/v1/models``; a worker
    that cannot be asked leaves the default, with a log line.
    """
    settings = ctx.settings
    if not ctx.providers or next(iter(ctx.providers)) != "worker" or not settings.worker_url:
        return None
    key = settings.worker_api_key.get_secret_value() if settings.worker_api_key else None
    try:
        roots = worker_base_models(url=settings.worker_url, api_key=key)
    except ConfigError as exc:
        logger.warning("counting for %s: %s", settings.default_model, exc.user_message())
        return None
    return next(iter(roots.values()), None)


def _file_url(ctx: BotContext, file_id: str) -> str:
    """Events may omit the download URL ("check_file_info"); ask files.info."""
    info = ctx.client.files_info(file=file_id)["file"]
    url = info.get("url_private_download") or info.get("url_private")
    if not url:
        raise TunebotError("Slack did not give me a download link for the file.")
    return str(url)


def validate_fixed(
    ctx: BotContext, *, short_id: str, user: str, channel: str, thread_ts: str | None
) -> None:
    """**Validate fixed file**: validate a not-ready dataset's fixed file as a new dataset.

    The new report goes in the same thread; when it is ready, its buttons start
    jobs on the fixed file.
    """
    dataset = find_dataset(ctx.engine, ref=short_id, team_id=ctx.team) if short_id else None
    storage = SharedStorage.from_settings(ctx.settings)
    fixed = dataset.training_path if dataset and dataset.training_path else None
    if (
        dataset is None
        or fixed is None
        or not fixed.endswith(".jsonl")
        # The fixed file lives in shared storage: any replica may take this click.
        or not storage.exists(fixed)
    ):
        tell_user(
            ctx.client,
            channel=channel,
            user=user,
            thread_ts=thread_ts,
            text=f":warning: Dataset `{short_id}` has no fixed file any more: drop the file again.",
        )
        return
    name = f"{Path(dataset.file_name).stem}.fixed.jsonl"
    wip = post_wip(
        ctx.client, channel=channel, thread_ts=dataset.thread_ts, text=f"⏳ Validating `{name}`…"
    )
    origin = Origin(
        source_id=f"{dataset.slack_file_id}-fixed",
        file_name=name,
        uploader_id=user,
        channel_id=dataset.channel_id,
        thread_ts=dataset.thread_ts,
        team_id=dataset.team_id,
    )

    def copy(dest: Path) -> int:
        with storage.local_copy(fixed) as local:
            shutil.copyfile(local, dest)
        return dest.stat().st_size

    try:
        intake = take_in(ctx.engine, settings=ctx.settings, origin=origin, fetch=copy)
    except TunebotError as exc:
        update_wip(ctx.client, channel=channel, ts=wip, text=f"❌ {error_text(exc)}")
        return
    _report(ctx, dataset.channel_id, dataset.thread_ts, intake, wip_ts=wip)


def _report(ctx: BotContext, channel: str, thread_ts: str, intake: Intake, *, wip_ts: str) -> None:
    dataset, report, fixed = intake.dataset, intake.report, intake.fixed
    blocks = build_report_blocks(
        report,
        dataset_short_id=dataset.short_id,
        providers=offered_providers(ctx.engine, list(ctx.providers)),
        fixed_file=fixed is not None,
        costs=costs_by_model(report, settings=ctx.settings),
    )
    text = build_report_text(report, dataset_short_id=dataset.short_id)
    update_wip(ctx.client, channel=channel, ts=wip_ts, text=text, blocks=blocks)
    stem = Path(dataset.file_name).stem or "dataset"
    try:
        upload_to_thread(
            ctx.client,
            channel=channel,
            thread_ts=thread_ts,
            filename=f"{stem}.report.json",
            title=f"Validation report for {dataset.file_name}",
            content=report.model_dump_json(indent=2).encode(),
        )
        if fixed is not None:
            changes = plural(len(report.changes), "change")
            with SharedStorage.from_settings(ctx.settings).local_copy(fixed) as path:
                upload_to_thread(
                    ctx.client,
                    channel=channel,
                    thread_ts=thread_ts,
                    filename=f"{stem}.fixed.jsonl",
                    title=f"Fixed {dataset.file_name} ({changes})",
                    path=path,
                )
    except SlackApiError as exc:
        logger.warning(
            "attaching files for %s failed: %s", dataset.short_id, exc.response.get("error")
        )
