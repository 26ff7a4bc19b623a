"""The real bolt app in HTTP mode on loopback, wired to FakeSlack (and FakeOpenAI).

Why a harness: end-to-end tests enter the bot as Slack does (signed HTTP
requests to ``/slack/events``) and watch what it does to the fake Slack
workspace, so everything between — signature checks, bolt's ack, the
background pool, slack_sdk's retry handlers, the openai SDK — is real.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import build_app, build_context
from bot.auth import Authorizer
from bot.context import BotContext
from bot.fakeslack.api import FakeSlack
from bot.fakeslack.events import SlackEventSender, event_callback, message_event
from bot.fakeslack.server import LoopbackServer
from bot.flows.ab import flush_scoreboard_edits
from bot.http_server import build_http_app
from core.config import Settings
from core.logs import ContextThreadPoolExecutor
from core.store.datasets import Dataset, add_dataset
from core.store.engine import create_db_engine, init_db, session_scope
from core.store.jobs import TrainingJob
from core.validation.report import Report
from tests.postgres import bot_database_url

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0TUNEBOT"
ALICE = "U0ALICE"
BOB = "U0BOB"

# Every provider/auth setting explicitly, so the developer's environment never leaks in.
_BLANK = {
    "OPENAI_API_KEY": None,
    "OPENAI_BASE_URL": None,
    "AZURE_OPENAI_ENDPOINT": None,
    "AZURE_OPENAI_API_KEY": None,
    "TUNEBOT_WORKER_URL": None,
    "TUNEBOT_WORKER_API_KEY": None,
    "TUNEBOT_ADMINS": [],
    "TUNEBOT_ALLOWED_USERGROUP": None,
    "TUNEBOT_MONTHLY_BUDGET_USD": None,
    "SLACK_APP_TOKEN": None,
}


def make_settings(tmp_path: Path, slack: FakeSlack, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        **_BLANK,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_BASE_URL": slack.base_url,
        "DATABASE_URL": bot_database_url(tmp_path / "tunebot.db"),
        "TUNEBOT_DATA_DIR": tmp_path / "data",
        "TUNEBOT_PROVIDER_MAX_RETRIES": 1,
        "TUNEBOT_PROVIDER_TIMEOUT": 10.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class RunningBot:
    """A started bot: its context, its URL and a signed sender pointed at it."""

    ctx: BotContext
    server: LoopbackServer
    sender: SlackEventSender
    slack: FakeSlack
    listeners: ThreadPoolExecutor

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.sender.close()
        self.server.stop()
        # Listeners still running after the ack (votes, modal work) hold database
        # connections; they finish before the engine is disposed.
        self.listeners.shutdown(wait=True, cancel_futures=True)
        self.ctx.validation_pool.shutdown(wait=True, cancel_futures=True)
        self.ctx.pool.shutdown(wait=True, cancel_futures=True)
        # A/B answers still running would hold a connection past dispose(); on
        # PostgreSQL it is then collected open (a ResourceWarning in a later test).
        self.ctx.generation_pool.shutdown(wait=True, cancel_futures=True)
        flush_scoreboard_edits(self.ctx)  # as Runtime.stop: no trailing edit after dispose()
        self.ctx.engine.dispose()

    def drop_file(
        self, name: str, content: bytes, *, user: str = ALICE, channel: str = CHANNEL, **event: Any
    ) -> tuple[str, dict[str, Any], str]:
        """Share a file in the channel and send its ``file_share`` event.

        Returns (file id, the stored message, the event id sent).
        """
        info = self.slack.add_file(name, content, user=user, channel=channel)
        channel_id, message = self.slack.file_message(info["id"])
        envelope = event_callback(message_event(channel_id, {**message, **event}))
        response = self.sender.send_envelope(envelope)
        assert response.status_code == 200, response.text
        return info["id"], message, envelope["event_id"]


def start_bot(settings: Settings, slack: FakeSlack) -> RunningBot:
    ctx = build_context(settings)
    # Context-copying, as bot.runtime's: the request's workspace travels with the work.
    listeners = ContextThreadPoolExecutor(8, thread_name_prefix="test-bolt-listener")
    app = build_app(ctx, listener_executor=listeners)
    http_app = build_http_app(app, engine=ctx.engine, max_request_bytes=settings.max_request_bytes)
    server = LoopbackServer(http_app, name="tunebot-http")
    server.start()
    sender = SlackEventSender(
        f"{server.url}/slack/events", signing_secret=SIGNING_SECRET, slack=slack
    )
    return RunningBot(ctx=ctx, server=server, sender=sender, slack=slack, listeners=listeners)


_UNIT_ENGINES: list[Any] = []


def dispose_unit_engines() -> None:
    """Close the engines :func:`unit_context` made (their pooled connections with them)."""
    while _UNIT_ENGINES:
        _UNIT_ENGINES.pop().dispose()


def unit_context(
    tmp_path: Path,
    *,
    client: Any,
    providers: dict[str, Any] | None = None,
    admins: tuple[str, ...] = (),
    **settings: Any,
) -> BotContext:
    """A context for calling listeners directly: real SQLite, a mocked WebClient."""

    values: dict[str, Any] = {
        **_BLANK,
        "SLACK_BOT_TOKEN": "xoxb-unit",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DATABASE_URL": bot_database_url(tmp_path / "unit.db"),
        "TUNEBOT_DATA_DIR": tmp_path / "data",
        **settings,
    }
    config = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    engine = create_db_engine(config.database_url)
    _UNIT_ENGINES.append(engine)
    init_db(engine)
    return BotContext(
        settings=config,
        engine=engine,
        providers=providers or {},
        client=client,
        authorizer=Authorizer(admins=list(admins), usergroup=None, client=client),
    )


def add_dataset_row(ctx: BotContext, **fields: Any) -> Any:
    """A validated dataset row (ready, 30 chat examples) for listener tests."""

    report = Report(
        file_name="faq.jsonl",
        file_type="jsonl",
        verdict="ready",
        format="chat",
        examples=30,
        billed_tokens_per_epoch=3000,
        epochs=4,
        trained_tokens=12000,
        model="gpt-4o-mini-2024-07-18",
        encoding="o200k_base",
    )
    values: dict[str, Any] = {
        "short_id": "ds-000001",
        "slack_file_id": "F0001",
        "channel_id": CHANNEL,
        "thread_ts": "100.1",
        "uploader_id": ALICE,
        "file_name": "faq.jsonl",
        "sha256": "0" * 64,
        "verdict": "ready",
        "format": "chat",
        "examples": 30,
        "model": report.model,
        "report_json": report.model_dump_json(),
    }
    values.update(fields)
    return add_dataset(ctx.engine, Dataset(**values))


def write_chat_jsonl(path: Path, pairs: dict[str, str]) -> Path:
    """One user/assistant example per (question, answer)."""
    rows = (
        json.dumps(
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        )
        for q, a in pairs.items()
    )
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def seed_finished_job(
    bot: RunningBot,
    *,
    dataset_short_id: str,
    job_short_id: str,
    base_model: str,
    fine_tuned_model: str,
    status: str = "succeeded",
    training_path: Path | None = None,
    validation_path: Path | None = None,
) -> dict[str, Any]:
    """A trained job whose dataset thread is a real message in the fake workspace.

    Returns the thread's parent message (the dropped file's message).
    """
    parent = bot.slack.post_user_message(CHANNEL, "faq.jsonl", user=ALICE)
    with session_scope(bot.ctx.engine) as db:
        dataset = Dataset(
            short_id=dataset_short_id,
            slack_file_id="F1",
            channel_id=CHANNEL,
            thread_ts=parent["ts"],
            uploader_id=ALICE,
            file_name="faq.jsonl",
            sha256="0" * 64,
            verdict="ready",
            format="chat",
            model=base_model,
            report_json="{}",
            training_path=None if training_path is None else str(training_path),
            validation_path=None if validation_path is None else str(validation_path),
        )
        db.add(dataset)
        db.flush()
        db.add(
            TrainingJob(
                short_id=job_short_id,
                request_id=f"req-{job_short_id}",
                dataset_id=dataset.id,
                provider="openai",
                base_model=base_model,
                fine_tuned_model=fine_tuned_model,
                status=status,
                channel_id=CHANNEL,
                thread_ts=parent["ts"],
                started_by=ALICE,
            )
        )
    return parent
