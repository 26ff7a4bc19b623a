"""The Web API methods the fake Slack implements, one handler per method.

Each handler takes the decoded arguments and returns the success body (``ok``
is added by the caller) or raises :class:`SlackError` with the error code real
Slack uses for that case.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable
from typing import Any

from bot.fakeslack.blocks import MAX_TEXT_CHARS, parse_blocks
from bot.fakeslack.errors import SlackError
from bot.fakeslack.files import FileMethods
from bot.fakeslack.views import ViewMethods
from bot.fakeslack.workspace import Workspace

__all__ = ["SlackMethods"]

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _bool(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


class SlackMethods(FileMethods, ViewMethods):
    """Handlers bound to one workspace.

    Parameters
    ----------
    ws:
        The workspace state.
    base_url:
        ``http://127.0.0.1:PORT`` of the fake, for upload URLs and permalinks.
    trigger_ttl:
        Seconds a trigger_id stays valid (Slack: 3). Trigger ids made by
        ``events.make_trigger_id`` carry their issue time in ms.
    """

    def __init__(
        self, ws: Workspace, *, base_url: Callable[[], str], trigger_ttl: float | None
    ) -> None:
        self.ws = ws
        self._base_url = base_url
        self.trigger_ttl = trigger_ttl
        self.expired_triggers: set[str] = set()
        self._used_triggers: set[str] = set()

    def table(self) -> dict[str, Handler]:
        return {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.getPermalink": self.chat_get_permalink,
            "reactions.add": self.reactions_add,
            "reactions.remove": self.reactions_remove,
            "files.info": self.files_info,
            "files.getUploadURLExternal": self.files_get_upload_url,
            "files.completeUploadExternal": self.files_complete_upload,
            "views.open": self.views_open,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "users.info": self.users_info,
            "usergroups.users.list": self.usergroups_users_list,
            "conversations.info": self.conversations_info,
            "conversations.replies": self.conversations_replies,
        }

    # ---- auth / users ----------------------------------------------------
    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        return {
            "url": f"{self._base_url()}/",
            "team": "Tunebot Test",
            "user": "tunebot",
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "is_enterprise_install": False,
        }

    def users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"user": copy.deepcopy(self.ws.user(args["user"]))}

    def usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = args["usergroup"]
        with self.ws.lock:
            if group not in self.ws.usergroups:
                raise SlackError("no_such_subteam")
            return {"users": list(self.ws.usergroups[group])}

    # ---- messages --------------------------------------------------------
    def _content(self, args: dict[str, Any]) -> tuple[str | None, list[Any] | None]:
        text = args.get("text")
        blocks = parse_blocks(args["blocks"]) if args.get("blocks") not in (None, "") else None
        attachments = args.get("attachments")
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        if text is not None and len(str(text)) > MAX_TEXT_CHARS:
            raise SlackError("msg_too_long")
        return (None if text is None else str(text)), blocks

    def chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.ws.channel(str(args["channel"]))
        text, blocks = self._content(args)
        thread_ts = args.get("thread_ts") or None
        message = self.ws.bot_message(text, args, blocks)
        try:
            stored = self.ws.post(channel, message, thread_ts=thread_ts)
        except SlackError:
            # Slack answers a reply to an unknown parent with this code.
            raise SlackError("thread_not_found") from None
        if thread_ts and _bool(args.get("reply_broadcast")):
            stored["subtype"] = "thread_broadcast"
        return {"channel": channel.id, "ts": stored["ts"], "message": copy.deepcopy(stored)}

    def chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        channel = ws.channel(str(args["channel"]))
        with ws.lock:
            message = ws.message(channel, str(args["ts"]))
            if message.get("bot_id") != ws.bot_id:
                raise SlackError("cant_update_message")
            text = args.get("text")
            blocks = parse_blocks(args["blocks"]) if args.get("blocks") not in (None, "") else None
            if text is None and blocks is None and not args.get("attachments"):
                raise SlackError("no_text")
            if text is not None and len(str(text)) > MAX_TEXT_CHARS:
                raise SlackError("msg_too_long")
            ws.edits.setdefault((channel.id, message["ts"]), []).append(copy.deepcopy(message))
            if text is not None:
                message["text"] = str(text)
            if blocks is not None:
                message["blocks"] = blocks
            message["edited"] = {"user": ws.bot_user_id, "ts": ws.new_ts()}
            return {
                "channel": channel.id,
                "ts": message["ts"],
                "text": message["text"],
                "message": copy.deepcopy(message),
            }

    def chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        channel = ws.channel(str(args["channel"]))
        user = str(args["user"])
        ws.user(user)
        if channel.members is not None and user not in channel.members:
            raise SlackError("user_not_in_channel")
        text, blocks = self._content(args)
        with ws.lock:
            ts = ws.new_ts()
            ws.ephemerals.append(
                {
                    "channel": channel.id,
                    "user": user,
                    "text": text or "",
                    "blocks": blocks,
                    "thread_ts": args.get("thread_ts"),
                    "ts": ts,
                    "via": "chat.postEphemeral",
                }
            )
        return {"message_ts": ts}

    def chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.ws.channel(str(args["channel"]), need_member=False)
        ts = str(args["message_ts"])
        with self.ws.lock:
            self.ws.message(channel, ts)
        return {
            "channel": channel.id,
            "permalink": f"{self._base_url()}/archives/{channel.id}/p{ts.replace('.', '')}",
        }

    # ---- reactions -------------------------------------------------------
    def _reaction_target(self, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        name = str(args["name"])
        if not re.fullmatch(r"[a-z0-9_+\-']+(::skin-tone-[2-6])?", name):
            raise SlackError("invalid_name")
        if not args.get("channel") or not args.get("timestamp"):
            raise SlackError("no_item_specified")
        channel = self.ws.channel(str(args["channel"]))
        return self.ws.message(channel, str(args["timestamp"])), name

    def reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.ws.lock:
            message, name = self._reaction_target(args)
            reactions = message.setdefault("reactions", [])
            entry = next((r for r in reactions if r["name"] == name), None)
            if entry is None:
                entry = {"name": name, "users": [], "count": 0}
                reactions.append(entry)
            if self.ws.bot_user_id in entry["users"]:
                raise SlackError("already_reacted")
            entry["users"].append(self.ws.bot_user_id)
            entry["count"] += 1
        return {}

    def reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.ws.lock:
            message, name = self._reaction_target(args)
            reactions = message.get("reactions", [])
            entry = next((r for r in reactions if r["name"] == name), None)
            if entry is None or self.ws.bot_user_id not in entry["users"]:
                raise SlackError("no_reaction")
            entry["users"].remove(self.ws.bot_user_id)
            entry["count"] -= 1
            if not entry["count"]:
                reactions.remove(entry)
        return {}

    # ---- conversations ---------------------------------------------------
    def conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.ws.channel(str(args["channel"]), need_member=False)
        return {"channel": channel.info()}

    def conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.ws.channel(str(args["channel"]))
        try:
            thread = self.ws.thread(channel, str(args["ts"]))
        except SlackError:
            raise SlackError("thread_not_found") from None
        limit = max(1, min(int(args.get("limit") or 1000), 1000))
        start = _cursor_index(args.get("cursor"), thread)
        page = thread[start : start + limit]
        more = start + limit < len(thread)
        cursor = _cursor(thread[start + limit]["ts"]) if more else ""
        return {
            "messages": copy.deepcopy(page),
            "has_more": more,
            "response_metadata": {"next_cursor": cursor},
        }


def _cursor(ts: str) -> str:
    """Slack cursors are opaque base64 strings; ours encode the next message's ts."""
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _cursor_index(cursor: Any, messages: list[dict[str, Any]]) -> int:
    if not cursor:
        return 0
    for index, message in enumerate(messages):
        if _cursor(message["ts"]) == cursor:
            return index
    raise SlackError("invalid_cursor")
