"""What every listener, flow and background job share; :mod:`bot.runtime` builds and stops it.

Passing one :class:`BotContext` around (instead of module globals or bolt's
``context`` dict) keeps listeners testable: a test builds a context with a
``Mock(WebClient)`` and calls the listener directly.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.auth import Authorizer
from bot.metrics import BotMetrics
from bot.model_lists import ModelLists
from bot.slack_clients import SlackClients, current_team
from core.config import Settings
from core.logs import ContextThreadPoolExecutor
from core.providers import Provider

logger = logging.getLogger(__name__)


@dataclass
class BotContext:
    """Services for the Slack side of tunebot.

    Attributes:
        settings: loaded once at start-up.
        engine: the database (source of truth for datasets, jobs, events).
        providers: configured providers by name (``core.providers.build_providers``).
        client: the Web API client (base URL and retry handlers set): the bot
            token's, or with OAuth installs the current workspace's
            (:class:`bot.slack_clients.WorkspaceClient`).
        clients: bot tokens by workspace (OAuth installs); None with one token.
        authorizer: who may start and cancel jobs.
        pool: short background work after an ack (command replies, modals,
            job starts, votes). Listeners ack, then submit here: bolt's own
            threads then do little more than acks, which keeps acks fast under load.
            (Every pool runs its work in a copy of the submitter's context, so the
            workspace and the log ids follow it.)
        validation_pool: dataset validation (seconds to minutes per file), kept
            apart so a big file never delays a modal past Slack's 3-second trigger.
        generation_pool: A/B prompts (two model calls each).
        model_lists: providers' model lists, cached (start modal, commands).
        metrics: the process's Prometheus metrics (one registry; bot.runtime serves it).
    """

    settings: Settings
    engine: Engine
    providers: dict[str, Provider]
    client: WebClient
    authorizer: Authorizer
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ContextThreadPoolExecutor(
            max_workers=4, thread_name_prefix="tunebot-work"
        )
    )
    validation_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ContextThreadPoolExecutor(
            max_workers=2, thread_name_prefix="tunebot-validate"
        )
    )
    # A/B prompts wait on two model calls; their own pool keeps votes and other
    # bot work (validation, job starts) from queueing behind slow models.
    generation_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ContextThreadPoolExecutor(
            max_workers=4, thread_name_prefix="ab-prompt"
        )
    )
    model_lists: ModelLists = field(default_factory=ModelLists)
    clients: SlackClients | None = None
    metrics: BotMetrics = field(default_factory=BotMetrics)

    @property
    def team(self) -> str | None:
        """The workspace lookups are limited to: the requester's with OAuth installs,
        None (no limit) with one token, where the database holds one workspace."""
        return current_team() if self.clients is not None else None

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` on :attr:`pool`; an exception is logged with its traceback."""
        # copy_context: the work's log lines keep the request's event/request ids.
        future = self.pool.submit(contextvars.copy_context().run, fn, *args)
        future.add_done_callback(log_failure)
        return future


def log_failure(future: Future[Any]) -> None:
    """Done-callback for background work: log an exception with its traceback."""
    error = future.exception()
    if error is not None:
        logger.error("background work failed", exc_info=error)
