"""Which workspace's token a Web API call uses: one token, or one per OAuth install.

Single-token mode (``SLACK_BOT_TOKEN``, the default) has one workspace and one
client. With Slack's OAuth install (``SLACK_CLIENT_ID``) every workspace that
installed the app has its own bot token in the installation store.

Why a routed client rather than a client argument on every function: about
sixty calls in listeners, flows and background jobs use ``ctx.client``. The
workspace they work for travels with the work instead, like the log ids of
:mod:`core.logs`: a bolt middleware sets it from the request, the context's
pools copy it into their threads, and background jobs set it from the row they
handle (:func:`acting_for`, with the row's ``team_id``). A call made with no
workspace set, or for one that uninstalled the app, raises :class:`NotInstalled`
before anything is sent: it never goes out with another workspace's token.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import InstallationStore

logger = logging.getLogger(__name__)

TOKEN_GONE = frozenset({"token_revoked", "invalid_auth", "account_inactive", "not_authed"})
"""Slack's answers once a workspace's token no longer works."""

_TEAM: ContextVar[str | None] = ContextVar("tunebot_slack_team", default=None)


class NotInstalled(Exception):
    """No bot token for this workspace: never installed, uninstalled, or none given."""

    def __init__(self, team_id: str | None) -> None:
        super().__init__(
            f"tunebot is not installed in workspace {team_id}"
            if team_id
            else "no workspace given for a Slack call (OAuth install mode)"
        )
        self.team_id = team_id


def current_team() -> str | None:
    """The workspace the running work is for (None outside a request or job)."""
    return _TEAM.get()


def enter_team(team_id: str | None) -> None:
    """Work for ``team_id`` for the rest of the current context (one Slack request).

    Not a ``with`` block: bolt runs its middleware one after another and the
    listeners after the last one returns, so the team must outlive the
    middleware. Each request is dispatched in its own copy of the context
    (Starlette's thread pool), and every request sets it, so none leaks into another.
    """
    _TEAM.set(team_id)


@contextmanager
def acting_for(team_id: str | None) -> Iterator[None]:
    """Run the block's Slack calls with ``team_id``'s token (OAuth install mode)."""
    token = _TEAM.set(team_id)
    try:
        yield
    finally:
        _TEAM.reset(token)


class SlackClients:
    """Bot tokens by workspace, looked up in the installation store and cached.

    Parameters:
        installation_store: slack_sdk's store that OAuth installs write to.
    """

    def __init__(self, installation_store: InstallationStore) -> None:
        self.installation_store = installation_store
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def token_for(self, team_id: str | None) -> str:
        """The bot token of ``team_id``'s install.

        Raises:
            NotInstalled: no team given, or no install for it.
        """
        if not team_id:
            raise NotInstalled(None)
        with self._lock:
            cached = self._tokens.get(team_id)
        if cached is not None:
            return cached
        bot = self.installation_store.find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            raise NotInstalled(team_id)
        with self._lock:
            self._tokens[team_id] = bot.bot_token
            self._warned.discard(team_id)
        return bot.bot_token

    def installed(self, team_id: str | None) -> bool:
        """Whether ``team_id`` has an install; the first "no" per team is logged once."""
        try:
            self.token_for(team_id)
        except NotInstalled:
            key = team_id or ""
            with self._lock:
                first = key not in self._warned
                self._warned.add(key)
            if first:
                logger.warning(
                    "workspace %s has no tunebot install (uninstalled?): its jobs and tests "
                    "are no longer posted to Slack",
                    team_id or "(unknown)",
                )
            return False
        return True

    def forget(self, team_id: str) -> None:
        """Drop the cached token (the workspace uninstalled or revoked it)."""
        with self._lock:
            self._tokens.pop(team_id, None)


class WorkspaceClient(WebClient):
    """A ``WebClient`` whose token is the current workspace's (:func:`acting_for`).

    An explicit ``token=`` argument still wins, as on any ``WebClient``
    (bolt's OAuth flow calls ``oauth.v2.access`` and ``auth.test`` that way).
    """

    def __init__(self, clients: SlackClients, **kwargs: Any) -> None:
        self._clients = clients
        super().__init__(**kwargs)

    @property  # WebClient sets it as an attribute; here it is resolved per call
    def token(self) -> str | None:
        team = current_team()
        return self._clients.token_for(team) if team else None

    @token.setter
    def token(self, _value: str | None) -> None:
        # WebClient.__init__ assigns None; the token is never fixed on this client.
        return None

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        # oauth.v2.access authenticates with the app's id and secret, and bolt
        # passes install tokens explicitly; every other call must have a
        # workspace, so it cannot go out with no token or another's.
        given = kwargs.get("auth") is not None or any(
            "token" in (kwargs.get(part) or {}) for part in ("params", "data", "json")
        )
        if given:
            return super().api_call(api_method, **kwargs)
        team = current_team()
        self._clients.token_for(team)
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            if exc.response.get("error") in TOKEN_GONE and team:
                # Uninstalled while another replica took the event: read the store again.
                self._clients.forget(team)
            raise
