"""The state behind the fake Slack: users, channels, messages, files, views.

Kept apart from the HTTP layer so seeding helpers (used by tests) and method
handlers (used by the bot under test) share one lock-protected model.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bot.fakeslack.errors import SlackError

__all__ = ["Channel", "Upload", "Workspace"]


@dataclass
class Channel:
    """A conversation. ``members`` None means everyone (a public channel the bot joined)."""

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    user: str | None = None  # the other party of a DM
    members: set[str] | None = None
    bot_member: bool = True
    messages: list[dict[str, Any]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        if self.is_im:
            return {
                "id": self.id,
                "is_im": True,
                "user": self.user,
                "created": 1700000000,
                "is_user_deleted": False,
                "is_open": True,
            }
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": False,
            "is_general": False,
            "is_member": self.bot_member,
            "created": 1700000000,
            "creator": "U0CREATOR",
            "name_normalized": self.name,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }


@dataclass
class Upload:
    """A file going through files_upload_v2: URL issued, bytes posted, completed."""

    file_id: str
    filename: str
    length: int
    token: str
    content: bytes | None = None
    completed: bool = False
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    alt_txt: str | None = None

    def record(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "filename": self.filename,
            "title": self.title,
            "length": self.length,
            "content": self.content,
            "channel": self.channel,
            "thread_ts": self.thread_ts,
            "initial_comment": self.initial_comment,
        }


class Workspace:
    """One Slack team as seen by one bot user; every public method takes the lock."""

    def __init__(self, *, team_id: str, bot_user_id: str, bot_id: str, app_id: str) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.lock = threading.RLock()
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.channels: dict[str, Channel] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.file_content: dict[str, bytes] = {}
        self.uploads: dict[str, Upload] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self.edits: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._last_us = 0
        self._ids = itertools.count(1)
        self.add_user(bot_user_id, name="tunebot", is_bot=True)

    # ---- ids -----------------------------------------------------------
    def new_ts(self) -> str:
        """A message ts like ``1700000000.000100``: wall-clock based, strictly increasing."""
        with self.lock:
            self._last_us = max(self._last_us + 100, int(time.time() * 1_000_000))
            return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):04d}{secrets.token_hex(3).upper()}"

    # ---- seeding ---------------------------------------------------------
    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        real_name: str | None = None,
        is_admin: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        tz: str = "Europe/Berlin",
        email: str | None = None,
    ) -> dict[str, Any]:
        real = real_name or name.title()
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real,
            "tz": tz,
            "tz_label": "Central European Time",
            "tz_offset": 3600,
            "is_admin": is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 1700000000,
            "profile": {
                "real_name": real,
                "display_name": name,
                "email": email or f"{name}@example.com",
                "image_48": "https://a.slack-edge.com/80588/img/avatars/ava_0001-48.png",
            },
        }
        with self.lock:
            self.users[user_id] = user
        return copy.deepcopy(user)

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        is_private: bool = False,
        members: set[str] | None = None,
        bot_member: bool = True,
    ) -> Channel:
        with self.lock:
            if channel_id in self.channels:
                return self.channels[channel_id]
            is_im = channel_id.startswith("D")
            channel = Channel(
                channel_id,
                name or channel_id.lower(),
                is_private=is_private or is_im,
                is_im=is_im,
                members=members,
                bot_member=bot_member,
            )
            self.channels[channel_id] = channel
            return channel

    # ---- lookups (raise the Slack error a method would) ------------------
    def channel(self, ref: str, *, need_member: bool = True) -> Channel:
        """Resolve a channel id, ``#name``/name, or a user id (meaning the DM with that user)."""
        with self.lock:
            if ref in self.channels:
                channel = self.channels[ref]
            elif ref[:1] in ("U", "W") and ref in self.users:
                channel = self.add_channel("D" + ref[1:])
                channel.user = ref
            else:
                name = ref.lstrip("#")
                found = [c for c in self.channels.values() if c.name == name and not c.is_im]
                if not found:
                    raise SlackError("channel_not_found")
                channel = found[0]
            if need_member and not channel.bot_member:
                raise SlackError("not_in_channel")
            return channel

    def message(self, channel: Channel, ts: str) -> dict[str, Any]:
        for msg in channel.messages:
            if msg["ts"] == ts:
                return msg
        raise SlackError("message_not_found")

    def user(self, user_id: str) -> dict[str, Any]:
        with self.lock:
            if user_id not in self.users:
                raise SlackError("user_not_found")
            return self.users[user_id]

    # ---- messages --------------------------------------------------------
    def post(
        self, channel: Channel, message: dict[str, Any], *, thread_ts: str | None
    ) -> dict[str, Any]:
        """Append a message (from the bot or a seeded user); keeps thread bookkeeping like Slack."""
        with self.lock:
            message = {"type": "message", "ts": self.new_ts(), **message}
            if thread_ts is not None:
                parent = self.message(channel, thread_ts)
                if "thread_ts" in parent and parent["thread_ts"] != parent["ts"]:
                    # Replying to a reply threads onto the parent, as Slack does.
                    parent = self.message(channel, parent["thread_ts"])
                message["thread_ts"] = parent["ts"]
                message["parent_user_id"] = parent.get("user")
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = message["ts"]
                users = parent.setdefault("reply_users", [])
                if message.get("user") not in users:
                    users.append(message.get("user"))
                parent["reply_users_count"] = len(users)
            channel.messages.append(message)
            return message

    def thread(self, channel: Channel, ts: str) -> list[dict[str, Any]]:
        with self.lock:
            parent = self.message(channel, ts)
            root = parent.get("thread_ts", parent["ts"])
            return [m for m in channel.messages if m["ts"] == root or m.get("thread_ts") == root]

    def bot_message(
        self, text: str | None, args: dict[str, Any], blocks: list[Any] | None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": text or "",
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": "tunebot",
                "team_id": self.team_id,
                "deleted": False,
            },
        }
        if blocks is not None:
            message["blocks"] = blocks
        if args.get("metadata") is not None:
            message["metadata"] = args["metadata"]
        return message

    # ---- files -----------------------------------------------------------
    def register_file(
        self,
        *,
        file_id: str,
        name: str,
        content: bytes,
        user: str,
        base_url: str,
        title: str | None = None,
        filetype: str | None = None,
        mimetype: str | None = None,
    ) -> dict[str, Any]:
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else "text"
        path = f"files-pri/{self.team_id}-{file_id}"
        info = {
            "id": file_id,
            "created": int(time.time()),
            "timestamp": int(time.time()),
            "name": name,
            "title": title or name,
            "mimetype": mimetype or _MIMETYPES.get(ext, "text/plain"),
            "filetype": filetype or _FILETYPES.get(ext, ext),
            "pretty_type": ext.upper(),
            "user": user,
            "user_team": self.team_id,
            "editable": False,
            "size": len(content),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": True,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{base_url}/{path}/{name}",
            "url_private_download": f"{base_url}/{path}/download/{name}",
            "permalink": f"{base_url}/files/{user}/{file_id}/{name}",
            "is_starred": False,
            "has_rich_preview": False,
            "file_access": "visible",
            "shares": {},
            "channels": [],
            "groups": [],
            "ims": [],
        }
        with self.lock:
            self.files[file_id] = info
            self.file_content[file_id] = content
        return info

    def share_file(self, file_id: str, channel: Channel, ts: str, *, thread_ts: str | None) -> None:
        with self.lock:
            info = self.files[file_id]
            kind = "private" if channel.is_private else "public"
            share: dict[str, Any] = {
                "reply_users": [],
                "reply_users_count": 0,
                "reply_count": 0,
                "ts": ts,
                "channel_name": channel.name,
                "team_id": self.team_id,
            }
            if thread_ts is not None:
                share["thread_ts"] = thread_ts
            info["shares"].setdefault(kind, {}).setdefault(channel.id, []).append(share)
            bucket = "ims" if channel.is_im else "groups" if channel.is_private else "channels"
            if channel.id not in info[bucket]:
                info[bucket].append(channel.id)


_MIMETYPES = {
    "jsonl": "application/octet-stream",
    "json": "application/json",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "txt": "text/plain",
    "png": "image/png",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_FILETYPES = {
    "jsonl": "text",
    "txt": "text",
    "json": "json",
    "csv": "csv",
    "tsv": "tsv",
    "png": "png",
    "xlsx": "xlsx",
}
