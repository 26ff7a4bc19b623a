"""Slack's OAuth install (many workspaces): bolt's OAuth settings on the bot's database.

With ``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET`` set, HTTP mode serves
``GET /slack/install`` (the "Add to Slack" page) and ``GET /slack/oauth_redirect``
(Slack sends the installer back there with a code, which bolt trades for the
workspace's bot token with ``oauth.v2.access``). Installs and OAuth states live
in slack_sdk's SQLAlchemy stores on the same database as everything else (tables
from migration 0003), so every replica sees every install.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext
from slack_bolt.listener.builtins import TokenRevocationListeners
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy.engine import Engine

from bot.slack_clients import SlackClients, enter_team
from core.config import Settings

logger = logging.getLogger(__name__)

BOT_SCOPES = (
    "channels:history",
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "groups:history",
    "im:history",
    "reactions:write",
    "usergroups:read",
)
"""The bot scopes ``manifest.yml`` asks for (tests/bot/test_oauth_install.py keeps them equal)."""

STATE_SECONDS = 600
"""How long an "Add to Slack" link stays valid (bolt's default)."""


def installation_store(settings: Settings, engine: Engine) -> SQLAlchemyInstallationStore:
    """slack_sdk's store of installs, on the bot's database (its tables are migrated)."""
    assert settings.slack_client_id is not None, "OAuth install mode only"
    return SQLAlchemyInstallationStore(
        client_id=settings.slack_client_id, engine=engine, logger=logger
    )


def oauth_settings(settings: Settings, clients: SlackClients, engine: Engine) -> OAuthSettings:
    """bolt's OAuth settings: install and redirect paths at bolt's defaults."""
    assert settings.slack_client_id is not None and settings.slack_client_secret is not None
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(settings.slack_oauth_scopes or BOT_SCOPES),
        redirect_uri=settings.slack_oauth_redirect_uri,
        installation_store=clients.installation_store,
        installation_store_bot_only=True,
        state_store=SQLAlchemyOAuthStateStore(
            expiration_seconds=STATE_SECONDS, engine=engine, logger=logger
        ),
        state_expiration_seconds=STATE_SECONDS,
        logger=logger,
    )


def register_workspace_scope(app: App, clients: SlackClients | None) -> None:
    """Every request works for its own workspace; uninstalls delete its install.

    The middleware sets the request's team (in both modes: new rows record it)
    for :class:`bot.slack_clients.WorkspaceClient`; the listener pool and the
    context's pools copy it into their threads. With OAuth installs,
    ``app_uninstalled`` and ``tokens_revoked`` run bolt's own clean-up (which
    deletes the install's rows) and drop the cached token.
    """

    def in_workspace(context: BoltContext, next: Callable[[], Any]) -> Any:
        enter_team(context.team_id)
        return next()

    app.use(in_workspace)
    if clients is None:

        def token_gone(context: BoltContext) -> None:
            # One workspace: nothing to delete, but every call will fail from now on.
            logger.warning(
                "tunebot was uninstalled from workspace %s (or its token revoked): "
                "SLACK_BOT_TOKEN no longer works; reinstall the app and set the new token",
                context.team_id,
            )

        app.event("app_uninstalled")(token_gone)
        app.event("tokens_revoked")(token_gone)
        return
    builtin = TokenRevocationListeners(clients.installation_store)

    def on_uninstalled(context: BoltContext) -> None:
        builtin.handle_app_uninstalled_events(context)
        clients.forget(context.team_id or "")
        logger.info("workspace %s uninstalled tunebot: its install is deleted", context.team_id)

    def on_revoked(event: dict[str, Any], context: BoltContext) -> None:
        builtin.handle_tokens_revoked_events(event, context)
        clients.forget(context.team_id or "")
        logger.info("workspace %s revoked tunebot's tokens", context.team_id)

    app.event("app_uninstalled")(on_uninstalled)
    app.event("tokens_revoked")(on_revoked)
