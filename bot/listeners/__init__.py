"""Slack surfaces, one module each; :func:`register_all` wires them into the bolt app.

Each module exposes ``register(app: App, ctx: BotContext)``. Modules listed in
:data:`LISTENER_MODULES` that do not exist yet are skipped, so features (App
Home, progress buttons, A/B tests) plug in by adding a module and one entry.
"""

from __future__ import annotations

import importlib
import logging

from slack_bolt import App

from bot.context import BotContext

logger = logging.getLogger(__name__)

LISTENER_MODULES = (
    "bot.listeners.files",  # message/file_share: dataset drops -> validation report
    "bot.listeners.commands",  # /finetune dispatcher (subcommands in bot.commands)
    "bot.listeners.actions",  # report buttons -> start modal
    "bot.listeners.views",  # start modal submission
    "bot.listeners.home",  # App Home (progress engineer)
    "bot.listeners.progress",  # cancel button on job messages (progress engineer)
    "bot.listeners.ab",  # A/B threads and votes (A/B engineer)
)


def register_all(app: App, ctx: BotContext) -> list[str]:
    """Register every present listener module, then the fallbacks; return the modules used."""
    used = []
    for name in LISTENER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app, ctx)
        used.append(name)
    _register_fallbacks(app)
    return used


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
