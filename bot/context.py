"""What every listener, command and the scheduler share, built once by ``tunebot serve``.

Passing one :class:`BotContext` around (instead of module globals or bolt's
``context`` dict) keeps listeners testable: a test builds a context with a
``Mock(WebClient)`` and calls the listener directly.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.auth import Authorizer
from core.config import Settings
from core.providers import Provider


@dataclass
class BotContext:
    """Services for the Slack side of tunebot.

    Attributes:
        settings: loaded once at start-up.
        engine: the database (source of truth for datasets, jobs, events).
        providers: configured providers by name (``core.providers.build_providers``).
        client: the bot-token Web API client (base URL and retry handlers set).
        authorizer: who may start and cancel jobs.
        pool: background work that must not run inside the 3-second ack
            (validation, uploads, job creation); bolt's own listener threads stay
            free for acks.
    """

    settings: Settings
    engine: Engine
    providers: dict[str, Provider]
    client: WebClient
    authorizer: Authorizer
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="tunebot-work")
    )
