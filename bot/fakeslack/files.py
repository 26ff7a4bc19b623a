"""Slack file methods of the fake: files.info and files_upload_v2's two API steps.

The middle step (POSTing the bytes to the upload URL) is served by FakeSlack's
HTTP layer; completing an upload shares the file to the channel/thread as a
bot ``file_share`` message, as Slack does.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable
from typing import Any

from bot.fakeslack.errors import SlackError
from bot.fakeslack.workspace import Upload, Workspace

__all__ = ["FileMethods"]


class FileMethods:
    """Mixin of :class:`SlackMethods`: needs ``ws`` and ``_base_url``."""

    ws: Workspace
    _base_url: Callable[[], str]

    def files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.ws.lock:
            info = self.ws.files.get(str(args["file"]))
            if info is None:
                raise SlackError("file_not_found")
            return {
                "file": copy.deepcopy(info),
                "comments": [],
                "response_metadata": {"next_cursor": ""},
            }

    def files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            length = int(args["length"])
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments", "[ERROR] length must be an integer") from None
        if length <= 0:
            raise SlackError("invalid_arguments", "[ERROR] length must be greater than 0")
        file_id = self.ws.new_id("F")
        token = secrets.token_urlsafe(12)
        with self.ws.lock:
            self.ws.uploads[token] = Upload(
                file_id, str(args["filename"]), length, token, alt_txt=args.get("alt_txt")
            )
        return {"upload_url": f"{self._base_url()}/upload/v1/{token}", "file_id": file_id}

    def files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        items = args["files"]
        if isinstance(items, str):
            try:
                items = json.loads(items)
            except json.JSONDecodeError:
                raise SlackError(
                    "invalid_arguments", "[ERROR] files must be a JSON array"
                ) from None
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(i, dict) and "id" in i for i in items)
        ):
            raise SlackError(
                "invalid_arguments", "[ERROR] files must be a non-empty array of {id, title}"
            )
        ws = self.ws
        # `channels` (comma-separated) is the older way to name one destination.
        target = args.get("channel_id") or str(args.get("channels") or "").split(",")[0].strip()
        channel = ws.channel(target) if target else None
        thread_ts = args.get("thread_ts") or None
        with ws.lock:
            uploads = {u.file_id: u for u in ws.uploads.values()}
            chosen = []
            for item in items:
                upload = uploads.get(item["id"])
                if upload is None:
                    raise SlackError("file_not_found")
                if upload.content is None:
                    raise SlackError("file_upload_not_completed")
                if upload.completed:
                    raise SlackError("file_already_completed")
                chosen.append((upload, item.get("title")))
            if channel is not None and thread_ts is not None:
                ws.message(channel, thread_ts)
            return {
                "files": [
                    self._complete_one(u, title, channel, thread_ts, args) for u, title in chosen
                ]
            }

    def _complete_one(
        self,
        upload: Upload,
        title: str | None,
        channel: Any,
        thread_ts: str | None,
        args: dict[str, Any],
    ) -> dict[str, Any]:
        ws = self.ws
        upload.completed = True
        upload.title = title or upload.filename
        upload.initial_comment = args.get("initial_comment")
        info = ws.register_file(
            file_id=upload.file_id,
            name=upload.filename,
            content=upload.content or b"",
            user=ws.bot_user_id,
            base_url=self._base_url(),
            title=upload.title,
        )
        if channel is not None:
            upload.channel, upload.thread_ts = channel.id, thread_ts
            message = ws.bot_message(upload.initial_comment or "", {}, None)
            message.update(
                {"subtype": "file_share", "files": [copy.deepcopy(info)], "upload": True}
            )
            stored = ws.post(channel, message, thread_ts=thread_ts)
            ws.share_file(upload.file_id, channel, stored["ts"], thread_ts=stored.get("thread_ts"))
        return {"id": upload.file_id, "title": upload.title}
