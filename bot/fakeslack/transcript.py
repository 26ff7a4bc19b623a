"""What a channel of the fake Slack shows, as posts and edits in the order they happened.

Why: ``tunebot demo`` renders the channel live (terminal) and afterwards as a
page (HTML) from the messages the bot really posted, every version of an
edited message included. Reading the fake's state (rather than recording the
bot's calls) shows exactly what a person in the channel would see.

Example::

    transcript = Transcript(slack, "C0DEMO")
    for post in transcript.poll():   # new messages and new versions since the last poll
        print(post.author, post.kind, post.message["text"])
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.fakeslack.api import FakeSlack

__all__ = ["Attachment", "Post", "Transcript"]


@dataclass(frozen=True)
class Attachment:
    """A file shown in a message: its name, type and bytes (for inlining images)."""

    name: str
    title: str
    mimetype: str
    content: bytes


@dataclass(frozen=True)
class Post:
    """One version of one message.

    ``kind`` is "posted" for the first version, "edited" for each chat.update;
    ``version`` counts edits (0: as posted). ``thread_ts`` is None at top level.
    """

    kind: Literal["posted", "edited"]
    ts: str
    thread_ts: str | None
    version: int
    author: str
    is_bot: bool
    message: dict[str, Any]
    attachments: tuple[Attachment, ...] = ()

    @property
    def text(self) -> str:
        return str(self.message.get("text") or "")

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.message.get("blocks") or []
        return [b for b in blocks if isinstance(b, dict)]


@dataclass
class Transcript:
    """Follows one channel of a :class:`FakeSlack`; not thread-safe (one reader)."""

    slack: FakeSlack
    channel: str
    _seen: dict[str, int] = field(default_factory=dict)
    posts: list[Post] = field(default_factory=list)
    """Every post returned by :meth:`poll` so far, in order."""

    def poll(self) -> list[Post]:
        """Messages posted and versions edited since the last call, oldest first."""
        ws = self.slack.ws
        new: list[Post] = []
        with ws.lock:
            channel = ws.channels.get(self.channel)
            messages = list(channel.messages) if channel is not None else []
            for message in messages:
                ts = str(message["ts"])
                versions = [*ws.edits.get((self.channel, ts), []), message]
                start = self._seen.get(ts, -1) + 1
                for number in range(start, len(versions)):
                    new.append(self._post(versions[number], ts=ts, version=number))
                self._seen[ts] = len(versions) - 1
        self.posts.extend(new)
        return new

    def latest(self) -> list[Post]:
        """The current version of every message seen, in the order first posted."""
        newest: dict[str, Post] = {}
        for post in self.posts:
            newest[post.ts] = post
        return list(newest.values())

    def _post(self, message: dict[str, Any], *, ts: str, version: int) -> Post:
        author, is_bot = self._author(message)
        thread_ts = message.get("thread_ts")
        return Post(
            kind="posted" if version == 0 else "edited",
            ts=ts,
            thread_ts=None if thread_ts in (None, ts) else str(thread_ts),
            version=version,
            author=author,
            is_bot=is_bot,
            message=copy.deepcopy(message),
            attachments=self._attachments(message),
        )

    def _author(self, message: dict[str, Any]) -> tuple[str, bool]:
        ws = self.slack.ws
        if message.get("bot_id"):
            return "tunebot", True
        user = ws.users.get(str(message.get("user")), {})
        return str(user.get("name") or message.get("user") or "someone"), False

    def _attachments(self, message: dict[str, Any]) -> tuple[Attachment, ...]:
        ws = self.slack.ws
        found = []
        for info in message.get("files") or []:
            file_id = str(info.get("id"))
            stored = ws.files.get(file_id, info)
            found.append(
                Attachment(
                    name=str(stored.get("name") or ""),
                    title=str(stored.get("title") or stored.get("name") or ""),
                    mimetype=str(stored.get("mimetype") or ""),
                    content=ws.file_content.get(file_id, b""),
                )
            )
        return tuple(found)
