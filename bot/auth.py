"""Who may start and cancel training jobs (admins, an allowed user group, or everyone)."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

logger = logging.getLogger(__name__)


class Authorizer:
    """Answers "may this user start jobs?" from settings and one Slack user group.

    Members of the user group are read with ``usergroups.users.list`` and cached
    for ``ttl_s`` seconds, so a burst of button presses is one Slack call. When
    the group cannot be read the answer is "no" (fail closed) and it is logged.

    Parameters:
        admins: user ids that are always allowed (``TUNEBOT_ADMINS``).
        usergroup: a user group id whose members are allowed (``TUNEBOT_ALLOWED_USERGROUP``).
        client: Web API client used to read the group.
    """

    def __init__(
        self, *, admins: list[str], usergroup: str | None, client: WebClient, ttl_s: float = 60.0
    ) -> None:
        self.admins = frozenset(admins)
        self.usergroup = usergroup
        self._client = client
        self._ttl_s = ttl_s
        self._members: frozenset[str] = frozenset()
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    @property
    def open_to_everyone(self) -> bool:
        """True when neither admins nor a user group is configured."""
        return not self.admins and not self.usergroup

    def is_allowed(self, user_id: str) -> bool:
        if self.open_to_everyone or user_id in self.admins:
            return True
        return bool(self.usergroup) and user_id in self._group_members()

    def refusal(self, action: str = "start") -> str:
        """What a refused user is told; ``action`` is what they tried ("start", "cancel")."""
        who = "tunebot admins"
        if self.usergroup:
            who += f" and members of <!subteam^{self.usergroup}>"
        return f"Only {who} can start or cancel fine-tuning jobs. Ask one of them to {action} it."

    def _group_members(self) -> frozenset[str]:
        if not self.usergroup:
            return frozenset()
        with self._lock:
            if time.monotonic() - self._read_at < self._ttl_s:
                return self._members
            try:
                response = self._client.usergroups_users_list(usergroup=self.usergroup)
            except SlackApiError as exc:
                logger.warning(
                    "cannot read user group %s: %s", self.usergroup, exc.response.get("error")
                )
                return self._members
            self._members = frozenset(response.get("users") or [])
            self._read_at = time.monotonic()
            return self._members
