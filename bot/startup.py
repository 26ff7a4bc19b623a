"""What must hold before a bot process starts: its settings, and a current schema.

Kept apart from :mod:`bot.runtime` so a refusal costs only this import: ``tunebot
serve`` checks here before it loads Slack, uvicorn and the A/B statistics (about
five seconds of imports), and ``tunebot doctor`` asks the same questions.
"""

from __future__ import annotations

from core.config import Settings
from core.store.schema import SchemaOutOfDate, require_current_database


class StartupError(Exception):
    """The bot cannot start; the message says what to set or fix."""


def missing_settings(settings: Settings) -> list[str]:
    """Environment variables that must be set (or unset) before the bot can run.

    Two modes, never mixed: one workspace with SLACK_BOT_TOKEN (the default), or
    many through Slack's OAuth install (SLACK_CLIENT_ID, HTTP mode only).
    """
    if settings.oauth_install:
        return _oauth_conflicts(settings)
    missing = []
    if settings.slack_client_secret is not None:
        missing.append("SLACK_CLIENT_ID (SLACK_CLIENT_SECRET is set: OAuth install needs both)")
    if settings.slack_bot_token is None:
        missing.append(
            "SLACK_BOT_TOKEN (the app's Bot User OAuth Token, xoxb-…), or SLACK_CLIENT_ID and "
            "SLACK_CLIENT_SECRET to install into many workspaces through OAuth"
        )
    if settings.slack_app_token is None and settings.slack_signing_secret is None:
        missing.append(
            "SLACK_APP_TOKEN (xapp-…, for Socket Mode) or SLACK_SIGNING_SECRET (for HTTP mode)"
        )
    return missing


def _oauth_conflicts(settings: Settings) -> list[str]:
    """What an OAuth install (SLACK_CLIENT_ID set) still lacks or must not have."""
    problems = []
    if settings.slack_client_secret is None:
        problems.append("SLACK_CLIENT_SECRET (SLACK_CLIENT_ID is set: OAuth install needs both)")
    if settings.slack_signing_secret is None:
        problems.append("SLACK_SIGNING_SECRET (OAuth install serves Slack over HTTP)")
    if settings.slack_app_token is not None:
        problems.append("unset SLACK_APP_TOKEN: OAuth install runs in HTTP mode, not Socket Mode")
    if settings.slack_bot_token is not None:
        problems.append(
            "unset SLACK_BOT_TOKEN: with SLACK_CLIENT_ID each workspace's token comes from "
            "its install"
        )
    return problems


def preflight(settings: Settings) -> None:
    """What must hold before anything starts: the settings, and a current schema.

    An empty database is created; an old one is refused, naming the command
    that upgrades it (#13).

    Raises:
        StartupError: every missing setting listed, or the schema is out of date.
    """
    if missing := missing_settings(settings):
        lines = "\n".join(f"  - {item}" for item in missing)
        raise StartupError(f"fix these environment variables (or their lines in .env):\n{lines}")
    try:
        require_current_database(settings.database_url)
    except SchemaOutOfDate as exc:
        raise StartupError(exc.user_message()) from None
