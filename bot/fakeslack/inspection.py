"""Seeding and inspection helpers of ``FakeSlack``: what tests call directly.

Everything returned is a deep copy, so a test can't change the fake's state
by accident, and reading is safe while the bot is calling the server.
"""

from __future__ import annotations

import copy
import secrets
from typing import TYPE_CHECKING, Any

from starlette.responses import PlainTextResponse, Response

from bot.fakeslack.errors import SlackError
from bot.fakeslack.workspace import Channel, Workspace

if TYPE_CHECKING:
    from bot.fakeslack.api import SlackCall

__all__ = ["SlackInspection"]

# Slack lets a response_url be used 5 times within 30 minutes.
_RESPONSE_URL_USES = 5


class SlackInspection:
    """Mixin over a :class:`Workspace`; FakeSlack provides ``ws``, ``url`` and ``_calls``."""

    ws: Workspace
    _calls: list[SlackCall]

    if TYPE_CHECKING:  # provided by FakeSlack (LoopbackFake)

        @property
        def url(self) -> str: ...

    _hooks: dict[str, dict[str, Any]]

    # ---- seeding ---------------------------------------------------------
    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        is_admin: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        email: str | None = None,
    ) -> dict[str, Any]:
        """Add a workspace member (returns the ``users.info`` user object)."""
        return self.ws.add_user(
            user_id,
            name=name or user_id.lower(),
            real_name=real_name,
            is_admin=is_admin,
            is_bot=is_bot,
            deleted=deleted,
            email=email,
        )

    def add_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        """Add a user group (``S...``) for ``usergroups.users.list``."""
        with self.ws.lock:
            self.ws.usergroups[usergroup_id] = list(users)

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        is_private: bool = False,
        members: set[str] | None = None,
        bot_member: bool = True,
    ) -> dict[str, Any]:
        """Add a conversation (``C...`` public, ``G...``/is_private, ``D...`` DM).

        ``members`` None means everyone may see it; ``bot_member=False`` makes
        posting answer ``not_in_channel``.
        """
        return self.ws.add_channel(
            channel_id, name=name, is_private=is_private, members=members, bot_member=bot_member
        ).info()

    def post_user_message(
        self,
        channel: str,
        text: str = "",
        *,
        user: str,
        thread_ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Record a message a person posted (so replies, reactions and threads work on it).

        Returns the message dict (with ``ts``) to put in a ``message`` event.
        """
        self.ws.user(user)
        with self.ws.lock:
            target = (
                self.ws.add_channel(channel)
                if channel not in self.ws.channels
                else self.ws.channels[channel]
            )
            message: dict[str, Any] = {
                "user": user,
                "text": text,
                "team": self.ws.team_id,
                "client_msg_id": secrets.token_hex(16),
            }
            if files:
                message.update(
                    {
                        "subtype": "file_share",
                        "upload": False,
                        "display_as_bot": False,
                        "files": copy.deepcopy(files),
                    }
                )
            stored = self.ws.post(target, message, thread_ts=thread_ts)
            for info in files or []:
                self.ws.share_file(
                    info["id"], target, stored["ts"], thread_ts=stored.get("thread_ts")
                )
            if files:
                stored["files"] = [copy.deepcopy(self.ws.files[f["id"]]) for f in files]
            return copy.deepcopy(stored)

    def add_file(
        self,
        name: str,
        content: bytes,
        *,
        user: str,
        channel: str | None = None,
        thread_ts: str | None = None,
        text: str = "",
        title: str | None = None,
        filetype: str | None = None,
        mimetype: str | None = None,
        size: int | None = None,
    ) -> dict[str, Any]:
        """Register a file a person uploaded; returns Slack's file object.

        ``size`` overrides the reported size (to fake a huge file without
        allocating it); the download still serves ``content``.

        With ``channel``, also posts the ``file_share`` message there (see
        :meth:`file_message`). ``url_private_download`` points at this fake and
        needs ``Authorization: Bearer <bot token>``; otherwise it answers an
        HTML login page like Slack.
        """
        if user not in self.ws.users:
            self.add_user(user)
        file_id = self.ws.new_id("F")
        info = self.ws.register_file(
            file_id=file_id,
            name=name,
            content=content,
            user=user,
            base_url=self.url,
            title=title,
            filetype=filetype,
            mimetype=mimetype,
        )
        if size is not None:
            with self.ws.lock:
                self.ws.files[file_id]["size"] = info["size"] = size
        if channel is not None:
            self.post_user_message(channel, text, user=user, thread_ts=thread_ts, files=[info])
        with self.ws.lock:
            return copy.deepcopy(self.ws.files[file_id])

    def file_message(self, file_id: str) -> tuple[str, dict[str, Any]]:
        """The (channel id, message) that shared ``file_id`` first, for building its event."""
        with self.ws.lock:
            for channel in self.ws.channels.values():
                for message in channel.messages:
                    if any(f["id"] == file_id for f in message.get("files", [])):
                        return channel.id, copy.deepcopy(message)
        raise KeyError(file_id)

    def new_response_url(
        self, *, channel: str, user: str, kind: str = "commands", message_ts: str | None = None
    ) -> str:
        """A response_url (``kind`` "commands" or "actions") the bot may POST to.

        ``message_ts``: the message whose button was clicked, which
        ``replace_original``/``delete_original`` then edit or delete.
        """
        hook = str(secrets.randbelow(10**12))
        url = f"{self.url}/{kind}/{self.ws.team_id}/{hook}/{secrets.token_urlsafe(18)}"
        with self.ws.lock:
            self._hooks[url] = {"channel": channel, "user": user, "uses": 0, "ts": message_ts}
        return url

    # ---- inspection ------------------------------------------------------
    def calls(self, method: str | None = None) -> list[SlackCall]:
        """Every Web API call received (including failed ones), oldest first."""
        with self.ws.lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """All messages in ``channel`` (top level and replies), oldest first.

        With ``thread_ts``: only the replies in that thread (not the parent).
        """
        with self.ws.lock:
            found = self.ws.channels.get(channel)
            if found is None:
                return []
            return copy.deepcopy(
                [
                    m
                    for m in found.messages
                    if thread_ts is None
                    or (m.get("thread_ts") == thread_ts and m["ts"] != thread_ts)
                ]
            )

    def bot_messages(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """Like :meth:`messages`, only those the bot posted."""
        return [m for m in self.messages(channel, thread_ts) if m.get("bot_id") == self.ws.bot_id]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """One message (current version, after edits)."""
        with self.ws.lock:
            return copy.deepcopy(self.ws.message(self._channel(channel), ts))

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Parent and replies, oldest first (what conversations.replies returns)."""
        with self.ws.lock:
            return copy.deepcopy(self.ws.thread(self._channel(channel), ts))

    def edits(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Earlier versions of a message, one per chat.update, oldest first."""
        with self.ws.lock:
            return copy.deepcopy(self.ws.edits.get((channel, ts), []))

    def ephemerals(
        self, channel: str | None = None, user: str | None = None
    ) -> list[dict[str, Any]]:
        """Ephemeral messages (chat.postEphemeral and ephemeral response_url replies)."""
        with self.ws.lock:
            return copy.deepcopy(
                [
                    e
                    for e in self.ws.ephemerals
                    if channel in (None, e["channel"]) and user in (None, e["user"])
                ]
            )

    def responses(
        self, channel: str | None = None, user: str | None = None
    ) -> list[dict[str, Any]]:
        """Every payload POSTed to a response_url, with ``url``, ``channel`` and ``user``."""
        with self.ws.lock:
            return copy.deepcopy(
                [
                    r
                    for r in self.ws.responses
                    if channel in (None, r["channel"]) and user in (None, r["user"])
                ]
            )

    def uploads(
        self, channel: str | None = None, thread_ts: str | None = None
    ) -> list[dict[str, Any]]:
        """Completed files_upload_v2 uploads.

        Each: file_id, filename, title, content (bytes), channel, thread_ts, initial_comment.
        """
        with self.ws.lock:
            done = [u.record() for u in self.ws.uploads.values() if u.completed]
        return [
            u
            for u in done
            if channel in (None, u["channel"]) and thread_ts in (None, u["thread_ts"])
        ]

    def reactions(self, channel: str, ts: str) -> dict[str, list[str]]:
        """Reaction name -> users on one message."""
        message = self.message(channel, ts)
        return {r["name"]: list(r["users"]) for r in message.get("reactions", [])}

    def home_view(self, user: str) -> dict[str, Any] | None:
        """The App Home view last published for ``user`` (None if never)."""
        with self.ws.lock:
            view = self.ws.home_views.get(user)
            return copy.deepcopy(view) if view else None

    def views(self) -> list[dict[str, Any]]:
        """Modals opened (current version after views.update), oldest first."""
        with self.ws.lock:
            return copy.deepcopy(list(self.ws.views.values()))

    def _channel(self, channel: str) -> Channel:
        return self.ws.channel(channel, need_member=False)

    # ---- response_url ----------------------------------------------------
    def _accept_response(self, url: str, payload: Any) -> Response:
        with self.ws.lock:
            hook = self._hooks.get(url)
            if hook is None:
                return PlainTextResponse("no_service", status_code=404)
            if hook["uses"] >= _RESPONSE_URL_USES:
                return PlainTextResponse("used_url", status_code=404)
            if not isinstance(payload, dict) or not (
                payload.get("text") or payload.get("blocks") or payload.get("delete_original")
            ):
                return PlainTextResponse("no_text", status_code=400)
            hook["uses"] += 1
            record = {
                **copy.deepcopy(payload),
                "url": url,
                "channel": hook["channel"],
                "user": hook["user"],
            }
            self.ws.responses.append(record)
            if payload.get("replace_original") or payload.get("delete_original"):
                return self._change_original(hook, payload)
            if payload.get("response_type") == "in_channel":
                channel = self.ws.channel(hook["channel"], need_member=False)
                message = self.ws.bot_message(payload.get("text"), {}, payload.get("blocks"))
                self.ws.post(channel, message, thread_ts=payload.get("thread_ts"))
            else:
                self.ws.ephemerals.append(
                    {
                        "channel": hook["channel"],
                        "user": hook["user"],
                        "text": payload.get("text", ""),
                        "blocks": payload.get("blocks"),
                        "thread_ts": payload.get("thread_ts"),
                        "ts": self.ws.new_ts(),
                        "via": "response_url",
                    }
                )
        return PlainTextResponse("ok")

    def _change_original(self, hook: dict[str, Any], payload: dict[str, Any]) -> Response:
        """replace_original / delete_original on the message whose button was clicked."""
        if hook["ts"] is None:
            # A slash command has no original message to change.
            return PlainTextResponse("invalid_replace_original", status_code=400)
        channel = self.ws.channel(hook["channel"], need_member=False)
        try:
            message = self.ws.message(channel, hook["ts"])
        except SlackError:
            return PlainTextResponse("message_not_found", status_code=404)
        self.ws.edits.setdefault((channel.id, message["ts"]), []).append(copy.deepcopy(message))
        if payload.get("delete_original"):
            channel.messages.remove(message)
            return PlainTextResponse("ok")
        message["text"] = payload.get("text", "")
        if payload.get("blocks") is not None:
            message["blocks"] = payload["blocks"]
        else:
            message.pop("blocks", None)
        message["edited"] = {"user": self.ws.bot_user_id, "ts": self.ws.new_ts()}
        return PlainTextResponse("ok")
