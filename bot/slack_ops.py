"""Web API helpers: work-in-progress messages, reactions, uploads, file downloads.

Slack's limits live here (and in :mod:`bot.blocks.limits`) so listeners never
hard-code them. Every helper takes the ``WebClient`` explicitly; the client
carries the retry handlers (429 ``Retry-After``, connection errors) set up in
:mod:`bot.app`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks.limits import MAX_MESSAGE_TEXT, truncate
from core.config import Settings
from core.errors import DatasetError

logger = logging.getLogger(__name__)

HOURGLASS = "hourglass_flowing_sand"
SLACK_FILE_HOST = "files.slack.com"
DOWNLOAD_CHUNK = 1024 * 1024
_HTML_PREFIXES = (b"<!doctype html", b"<html")


def post_wip(client: WebClient, *, channel: str, thread_ts: str | None, text: str) -> str:
    """Post a placeholder in the thread and return its ts (edited later by :func:`update_wip`)."""
    response = client.chat_postMessage(
        channel=channel, thread_ts=thread_ts, text=truncate(text, MAX_MESSAGE_TEXT)
    )
    return str(response["ts"])


def update_wip(
    client: WebClient,
    *,
    channel: str,
    ts: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
) -> None:
    """Replace a placeholder's content.

    When Slack answers ``msg_too_long`` or ``invalid_blocks`` (a block builder
    missed a limit), the message falls back to its plain text so people still
    get an answer; the failure is logged because it is a bug to fix.
    """
    text = truncate(text, MAX_MESSAGE_TEXT)
    try:
        client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks or [])
    except SlackApiError as exc:
        error = exc.response.get("error")
        if blocks is None or error not in ("msg_too_long", "invalid_blocks"):
            raise
        logger.error("chat.update refused the blocks (%s); sending text only", error)
        client.chat_update(channel=channel, ts=ts, text=text, blocks=[])


def post_in_thread(
    client: WebClient,
    *,
    channel: str,
    thread_ts: str | None,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
) -> str:
    """Post a message in a thread; returns its ts."""
    response = client.chat_postMessage(
        channel=channel, thread_ts=thread_ts, text=truncate(text, MAX_MESSAGE_TEXT), blocks=blocks
    )
    return str(response["ts"])


def react(client: WebClient, *, channel: str, ts: str, name: str, add: bool) -> None:
    """Add or remove a reaction; an already-present/absent reaction is not an error."""
    try:
        if add:
            client.reactions_add(channel=channel, timestamp=ts, name=name)
        else:
            client.reactions_remove(channel=channel, timestamp=ts, name=name)
    except SlackApiError as exc:
        if exc.response.get("error") not in ("already_reacted", "no_reaction"):
            logger.warning("reaction %s on %s failed: %s", name, ts, exc.response.get("error"))


def upload_to_thread(
    client: WebClient,
    *,
    channel: str,
    thread_ts: str,
    filename: str,
    title: str,
    content: bytes | None = None,
    path: Path | None = None,
) -> None:
    """Attach a file to a thread with ``files_upload_v2`` (Slack's three-step upload)."""
    source: dict[str, Any] = {"content": content} if content is not None else {"file": str(path)}
    client.files_upload_v2(
        channel=channel, thread_ts=thread_ts, filename=filename, title=title, **source
    )


def allowed_file_hosts(settings: Settings) -> frozenset[str]:
    """Hosts the bot token may be sent to: Slack's file host and the configured API host."""
    api_host = urlsplit(settings.slack_api_base_url).netloc.lower()
    return frozenset(host for host in (SLACK_FILE_HOST, api_host) if host)


def download_file(
    url: str,
    *,
    token: str,
    dest: Path,
    max_bytes: int,
    allowed_hosts: frozenset[str],
    timeout_s: float = 60.0,
) -> int:
    """Stream a Slack file to ``dest`` with the bot token; return the bytes written.

    The token is only sent to ``allowed_hosts`` (it would leak anywhere else);
    the body is capped at ``max_bytes`` whatever the event claimed; an HTML
    body is Slack's login page, which means the token cannot read the file.

    Raises:
        DatasetError: ``file_host_not_allowed``, ``file_not_accessible`` (HTML,
            401/403/redirect), ``file_too_large``, ``download_failed``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or parts.netloc.lower() not in allowed_hosts:
        raise DatasetError(
            f"I won't download from {parts.netloc or 'that address'}: it is not Slack's file host.",
            code="file_host_not_allowed",
            hint="Upload the file to Slack directly instead of sharing a link.",
        )
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.stream(
            "GET", url, headers=headers, timeout=timeout_s, follow_redirects=False
        ) as response:
            _check_response(response)
            return _write_capped(response, dest, max_bytes=max_bytes)
    except httpx.HTTPError as exc:
        raise DatasetError(
            f"Downloading the file failed ({type(exc).__name__}).",
            code="download_failed",
            hint="Drop the file again in a minute.",
        ) from None


def _no_access() -> DatasetError:
    return DatasetError(
        "I can't read this file: Slack sent its sign-in page instead of the file.",
        code="file_not_accessible",
        hint="Add the files:read scope to the app and reinstall it, or invite me to the channel "
        "(`/invite @tunebot`), then drop the file again.",
    )


def _check_response(response: httpx.Response) -> None:
    if response.status_code in (301, 302, 303, 307, 308, 401, 403):
        raise _no_access()
    if response.status_code != 200:
        raise DatasetError(
            f"Slack answered {response.status_code} when I downloaded the file.",
            code="download_failed",
            hint="Drop the file again in a minute.",
        )
    if response.headers.get("content-type", "").lower().startswith("text/html"):
        raise _no_access()


def _write_capped(response: httpx.Response, dest: Path, *, max_bytes: int) -> int:
    written = 0
    with dest.open("wb") as handle:
        for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
            if written == 0 and chunk.lstrip()[:15].lower().startswith(_HTML_PREFIXES):
                raise _no_access()
            written += len(chunk)
            if written > max_bytes:
                raise DatasetError(
                    f"The file is larger than the {max_bytes / 1e6:,.0f} MB limit.",
                    code="file_too_large",
                    hint="Split it into smaller files.",
                )
            handle.write(chunk)
    return written


def tell_user(
    client: WebClient, *, channel: str, user: str, text: str, thread_ts: str | None = None
) -> None:
    """An ephemeral message only ``user`` sees (refusals, errors about their request)."""
    try:
        client.chat_postEphemeral(
            channel=channel, user=user, text=truncate(text, MAX_MESSAGE_TEXT), thread_ts=thread_ts
        )
    except SlackApiError as exc:
        logger.warning("could not tell %s in %s: %s", user, channel, exc.response.get("error"))
