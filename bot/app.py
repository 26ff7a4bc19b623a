"""Building the bolt ``App`` and the services it shares (no listeners are defined here).

``tunebot serve`` calls :func:`build_context` once, then :func:`build_app`;
the HTTP and Socket Mode entry points differ only in how requests reach the
app (:mod:`bot.http_server`, bolt's Socket Mode handler).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from sqlalchemy.engine import Engine

from bot.auth import Authorizer
from bot.context import BotContext
from bot.listeners import register_listeners
from bot.oauth import installation_store, oauth_settings, register_workspace_scope
from bot.slack_clients import SlackClients, WorkspaceClient
from core.config import Settings
from core.logs import ContextThreadPoolExecutor
from core.providers import Provider, build_providers
from core.store.engine import create_db_engine, init_db

logger = logging.getLogger(__name__)

# Bolt runs listeners (ack + the short work after it) in this pool; validation
# and job starts go to BotContext.pool so a burst of drops never delays acks.
LISTENER_THREADS = 32


def build_web_client(settings: Settings, clients: SlackClients | None = None) -> WebClient:
    """The Web API client: Slack API base URL from settings, retries on 429 and
    connection errors (slack_sdk honours ``Retry-After``).

    With OAuth installs (``clients`` given) its token is the current workspace's
    (:class:`bot.slack_clients.WorkspaceClient`); else ``SLACK_BOT_TOKEN``.
    """
    options: dict[str, Any] = {
        "base_url": settings.slack_api_base_url,
        "retry_handlers": [
            RateLimitErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ],
    }
    if clients is not None:
        return WorkspaceClient(clients, **options)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, **options)


def build_context(
    settings: Settings,
    *,
    client: WebClient | None = None,
    engine: Engine | None = None,
    providers: dict[str, Provider] | None = None,
) -> BotContext:
    """Everything listeners share; tests pass their own client, engine or providers."""
    if engine is None:
        engine = create_db_engine(settings.database_url)
        init_db(engine)
    clients = SlackClients(installation_store(settings, engine)) if settings.oauth_install else None
    client = client or build_web_client(settings, clients)
    authorizer = Authorizer(
        admins=settings.admins, usergroup=settings.allowed_usergroup, client=client
    )
    return BotContext(
        settings=settings,
        engine=engine,
        providers=build_providers(settings) if providers is None else providers,
        client=client,
        authorizer=authorizer,
        clients=clients,
    )


def build_app(ctx: BotContext, *, listener_executor: ThreadPoolExecutor | None = None) -> App:
    """The bolt app with every listener registered.

    HTTP requests are verified with the signing secret (bad or stale signature:
    401, nothing runs). In Socket Mode the secret may be absent. With OAuth
    installs (``ctx.clients``) bolt also serves ``/slack/install`` and
    ``/slack/oauth_redirect`` and authorizes each request by its workspace.

    ``listener_executor`` must copy the submitter's context (the workspace
    travels in it): the default is :class:`core.logs.ContextThreadPoolExecutor`.
    """
    secret = ctx.settings.slack_signing_secret
    app = App(
        client=ctx.client,
        signing_secret=secret.get_secret_value() if secret else None,
        request_verification_enabled=secret is not None,
        process_before_response=False,
        listener_executor=listener_executor
        or ContextThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="bolt-listener"),
        logger=logging.getLogger("slack_bolt"),
        oauth_settings=(
            oauth_settings(ctx.settings, ctx.clients, ctx.engine) if ctx.clients else None
        ),
    )
    register_workspace_scope(app, ctx.clients)
    register_listeners(app, ctx)
    return app
