"""Slack surfaces, one module each; :func:`register_listeners` wires them into the bolt app.

Each module exposes ``register(app: App, ctx: BotContext)``; a listener parses
the payload, acks, and calls one flow (:mod:`bot.flows`) for anything slow.
"""

from __future__ import annotations

from slack_bolt import App

from bot.context import BotContext
from bot.listeners import actions, commands, events, home, views


def register_listeners(app: App, ctx: BotContext) -> None:
    """Register every Slack surface, then the fallbacks.

    Order matters for message events: bolt runs the first matching listener, so
    file drops and A/B thread replies (:mod:`.events`) come before the fallbacks.
    """
    events.register(app, ctx)  # message/file_share drops; replies in A/B threads
    commands.register(app, ctx)  # /finetune and its subcommands
    actions.register(app, ctx)  # start, cancel, A/B start and vote buttons
    views.register(app, ctx)  # start modal submission
    home.register(app, ctx)  # App Home
    _register_fallbacks(app)


def _register_fallbacks(app: App) -> None:
    """Acknowledge subscribed events nobody handles.

    Bolt answers an unmatched request with 404, which makes Slack retry it. These
    are registered last: bolt runs the first matching listener, so specific
    listeners (file drops, A/B thread replies, App Home) still win.
    """

    def ignore() -> None:
        return None

    app.event("message")(ignore)
    app.event("app_home_opened")(ignore)
