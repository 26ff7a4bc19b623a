"""Slack's side of the OAuth v2 install, and more workspaces on one fake Slack.

Real Slack: the installer opens ``https://slack.com/oauth/v2/authorize?client_id=…
&scope=…&state=…``, clicks **Allow**, and Slack redirects the browser to the
app's redirect URL with ``?code=…&state=…``; the app then trades the code for
the workspace's bot token with ``oauth.v2.access``, authenticating with its
client id and secret (HTTP Basic, or form fields). A code is good for one
exchange and a few minutes; errors are Slack's (``invalid_client_id``,
``bad_client_secret``, ``invalid_code``, ``bad_redirect_uri``).

Here :meth:`OAuthGrants.authorize` is the **Allow** click (it returns the code a
test puts on the redirect), and :meth:`OAuthGrants.redeem` is ``oauth.v2.access``'s check.
:class:`SlackTeam` is one more workspace on the same server: seed and inspect
it with the same helpers as ``FakeSlack`` itself.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.fakeslack.errors import SlackError
from bot.fakeslack.inspection import SlackInspection
from bot.fakeslack.methods import Handler, SlackMethods
from bot.fakeslack.workspace import Workspace

if TYPE_CHECKING:
    from bot.fakeslack.api import SlackCall

__all__ = ["OAUTH_METHOD", "Grant", "OAuthGrants", "SlackInstalls", "SlackTeam"]

OAUTH_METHOD = "oauth.v2.access"
CODE_TTL = 600.0
"""Seconds a code stays valid (Slack: 10 minutes)."""


@dataclass
class Grant:
    """What an **Allow** click granted: a workspace, a user, scopes, a redirect URL."""

    team_id: str
    user_id: str
    scopes: list[str]
    redirect_uri: str | None
    issued_at: float = field(default_factory=time.time)


class OAuthGrants:
    """The app's credentials and the codes issued for it (single use, expiring)."""

    def __init__(self, *, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self._codes: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def authorize(
        self, team_id: str, *, user_id: str, scopes: list[str], redirect_uri: str | None = None
    ) -> str:
        """The installer clicked **Allow**: a code for the redirect URL's ``?code=``."""
        code = f"{int(time.time())}.{secrets.token_hex(16)}"
        with self._lock:
            self._codes[code] = Grant(team_id, user_id, list(scopes), redirect_uri)
        return code

    def redeem(self, args: dict[str, Any]) -> Grant:
        """Check ``oauth.v2.access``'s arguments as Slack does and use up the code.

        Raises:
            SlackError: ``invalid_client_id``, ``bad_client_secret``,
                ``invalid_code`` (unknown, used or expired) or ``bad_redirect_uri``.
        """
        if args.get("client_id") != self.client_id:
            raise SlackError("invalid_client_id")
        if args.get("client_secret") != self.client_secret:
            raise SlackError("bad_client_secret")
        with self._lock:
            grant = self._codes.pop(str(args.get("code") or ""), None)
        if grant is None or time.time() - grant.issued_at > CODE_TTL:
            raise SlackError("invalid_code")
        # Slack: when the authorize URL named a redirect_uri, the exchange must repeat it.
        if grant.redirect_uri is not None and args.get("redirect_uri") != grant.redirect_uri:
            raise SlackError("bad_redirect_uri")
        return grant


class SlackTeam(SlackInspection):
    """Another workspace on the same fake Slack (``FakeSlack.add_team``).

    Seeding and inspection work as on ``FakeSlack`` (``add_file``,
    ``ephemerals``, ``responses``, ``new_response_url``…); its bot token exists
    once the app is installed there through OAuth.
    """

    def __init__(
        self,
        ws: Workspace,
        *,
        calls: list[SlackCall],
        url: Callable[[], str],
        trigger_ttl: float | None,
    ) -> None:
        self.ws = ws
        self._calls = calls
        self._url = url
        self._hooks: dict[str, dict[str, Any]] = {}
        self.handlers: dict[str, Handler] = SlackMethods(
            ws, base_url=url, trigger_ttl=trigger_ttl
        ).table()
        self.bot_token: str | None = None

    @property
    def url(self) -> str:
        return self._url()

    @property
    def team_id(self) -> str:
        return self.ws.team_id


class SlackInstalls:
    """Mixin of ``FakeSlack``: more workspaces, and the tokens OAuth installs issued there."""

    ws: Workspace
    bot_token: str
    scopes: list[str]
    _calls: list[SlackCall]
    _handlers: dict[str, Handler]
    _impl: SlackMethods

    if TYPE_CHECKING:  # provided by FakeSlack (LoopbackFake)

        @property
        def url(self) -> str: ...

    def _installs_init(self, *, client_id: str, client_secret: str) -> None:
        self.oauth = OAuthGrants(client_id=client_id, client_secret=client_secret)
        self._teams: dict[str, SlackTeam] = {}
        # Tokens issued by OAuth installs: the workspace each one acts in.
        self._installed: dict[str, tuple[Workspace, dict[str, Handler]]] = {}
        self._revoked: set[str] = set()

    def add_team(
        self, team_id: str, *, bot_user_id: str = "U0TUNEBOT2", bot_id: str = "B0TUNEBOT2"
    ) -> SlackTeam:
        """Another workspace on this server (same app); install the app there with OAuth."""
        ws = Workspace(
            team_id=team_id, bot_user_id=bot_user_id, bot_id=bot_id, app_id=self.ws.app_id
        )
        team = SlackTeam(
            ws, calls=self._calls, url=lambda: self.url, trigger_ttl=self._impl.trigger_ttl
        )
        with self.ws.lock:
            self._teams[team_id] = team
        return team

    def authorize(
        self,
        team_id: str,
        *,
        user_id: str,
        scopes: Iterable[str] | None = None,
        redirect_uri: str | None = None,
    ) -> str:
        """A member of ``team_id`` clicked **Allow** on the install page: the redirect's code."""
        if team_id != self.ws.team_id and team_id not in self._teams:
            raise KeyError(f"no workspace {team_id}; add_team() it first")
        return self.oauth.authorize(
            team_id,
            user_id=user_id,
            scopes=list(self.scopes if scopes is None else scopes),
            redirect_uri=redirect_uri,
        )

    def installed_tokens(self, team_id: str) -> list[str]:
        """The bot tokens OAuth installs issued in ``team_id`` that still work."""
        with self.ws.lock:
            return [t for t, (ws, _) in self._installed.items() if ws.team_id == team_id]

    def uninstall(self, team_id: str) -> None:
        """The workspace removed the app: every token issued there is revoked."""
        with self.ws.lock:
            for token in self.installed_tokens(team_id):
                del self._installed[token]
                self._revoked.add(token)

    def _oauth_access(self, args: dict[str, Any]) -> dict[str, Any]:
        grant = self.oauth.redeem(args)
        target = self._teams.get(grant.team_id)
        ws, handlers = (self.ws, self._handlers) if target is None else (target.ws, target.handlers)
        token = f"xoxb-{ws.team_id}-{secrets.token_hex(12)}"
        with self.ws.lock:
            self._installed[token] = (ws, handlers)
        if target is not None:
            target.bot_token = token
        return access_response(ws, grant, token=token)

    def _acting(self, token: str) -> tuple[Workspace, dict[str, Handler]]:
        """The workspace and handlers a token acts in; Slack's error for a bad one."""
        if token == self.bot_token:
            return self.ws, self._handlers
        with self.ws.lock:
            found = self._installed.get(token)
            revoked = token in self._revoked
        if found is None:
            raise SlackError("token_revoked" if revoked else "invalid_auth")
        return found


def access_response(ws: Workspace, grant: Grant, *, token: str) -> dict[str, Any]:
    """``oauth.v2.access``'s success body for a bot install (no user token asked)."""
    return {
        "app_id": ws.app_id,
        "authed_user": {"id": grant.user_id},
        "scope": ",".join(grant.scopes),
        "token_type": "bot",
        "access_token": token,
        "bot_user_id": ws.bot_user_id,
        "team": {"id": ws.team_id, "name": f"Team {ws.team_id}"},
        "enterprise": None,
        "is_enterprise_install": False,
    }
