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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.fakeslack.errors import SlackError
from bot.fakeslack.inspection import SlackInspection
from bot.fakeslack.methods import Handler, SlackMethods
from bot.fakeslack.workspace import Workspace

if TYPE_CHECKING:
    from bot.fakeslack.api import SlackCall

__all__ = ["OAUTH_METHOD", "Grant", "OAuthGrants", "SlackTeam"]

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
