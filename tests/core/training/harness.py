"""A progress test rig: fake Slack + fake OpenAI on loopback, a SQLite file, real clients.

Jobs are created the way the bot creates them: the dataset is uploaded and the
job created through ``core.providers.Provider`` against the fake OpenAI API,
"job started" is posted in the dataset's thread with the real WebClient, and
the ``Dataset``/``TrainingJob`` rows are written as the bot writes them.
Shared by the scheduler tests, the restart (SIGKILL) test and the benchmark.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.background.poster import MARKER_EVENT
from bot.background.progress_scheduler import ProgressScheduler
from bot.fakeslack.api import FakeSlack
from core.config import Settings
from core.providers import Provider, build_providers
from core.store.datasets import Dataset
from core.store.engine import create_db_engine, init_db, session_scope
from core.store.jobs import TrainingJob
from tests.fakes.openai_api import FakeOpenAI
from tests.postgres import bot_database_url

CHANNEL = "C0TUNEBOT"
UPLOADER = "U0BOB"
STARTER = "U0ALICE"
TRAIN_LINE = json.dumps(
    {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
)
_numbers = itertools.count(1)


def slack_client(slack: FakeSlack, *, retry_handlers: list[Any] | None = None) -> WebClient:
    return WebClient(
        token=slack.bot_token, base_url=slack.base_url, retry_handlers=retry_handlers or []
    )


@dataclass
class Rig:
    """The fakes, the database and the clients one test uses."""

    slack: FakeSlack
    openai: FakeOpenAI | None  # None: a rig for the real worker (set its URL in overrides)
    tmp: Path
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.db_path = self.tmp / "tunebot.db"
        self.settings = self.make_settings(**self.overrides)
        self.engine: Engine = create_db_engine(self.settings.database_url)
        init_db(self.engine)
        self.providers: dict[str, Provider] = build_providers(self.settings)
        self.client = slack_client(self.slack)
        self.data = self.tmp / "train.jsonl"
        self.data.write_text((TRAIN_LINE + "\n") * 12, encoding="utf-8")
        self._schedulers: list[ProgressScheduler] = []

    def close(self) -> None:
        """Stop the pollers' loops (and their connections), then the database."""
        for scheduler in self._schedulers:
            scheduler.poller.close()
        for provider in self.providers.values():
            provider.close()
        self.engine.dispose()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()  # also when an assertion failed: its pollers hold aiohttp sessions

    def env(self, **extra: Any) -> dict[str, str]:
        """Environment for a bot process pointed at the fakes (no secrets of ours)."""
        values: dict[str, str] = {
            "DATABASE_URL": bot_database_url(self.db_path),
            "SLACK_BOT_TOKEN": self.slack.bot_token,
            "SLACK_API_BASE_URL": self.slack.base_url,
            "TUNEBOT_PROVIDER_MAX_RETRIES": "0",
            "TUNEBOT_PROVIDER_TIMEOUT": "10",
            "TUNEBOT_POLL_SECONDS": "0.01",
            "TUNEBOT_MIN_EDIT_SECONDS": "0",
            "TUNEBOT_EDITS_PER_MINUTE": "1000",
            "TUNEBOT_REPLICA_ID": "test-replica",
            "TUNEBOT_DATA_DIR": str(self.tmp / "data"),
        }
        if self.openai is not None:
            values.update(OPENAI_API_KEY=self.openai.api_key, OPENAI_BASE_URL=self.openai.base_url)
        values.update({k: str(v) for k, v in extra.items()})
        return values

    def make_settings(self, **extra: Any) -> Settings:
        blank = {"OPENAI_API_KEY": None, "AZURE_OPENAI_API_KEY": None, "TUNEBOT_WORKER_URL": None}
        return Settings(_env_file=None, **{**blank, **self.env(**extra)})  # type: ignore[arg-type]

    def scheduler(
        self, *, client: WebClient | None = None, posts_per_tick: int | None = None, **extra: Any
    ) -> ProgressScheduler:
        """A scheduler whose poller :meth:`close` stops (even after a failed assertion).

        Parameters:
            client: a Slack client other than the rig's (its retry handlers, say).
            posts_per_tick: the scheduler's own default unless given.
            extra: settings overrides, as environment variable names.
        """
        settings = self.make_settings(**{**self.overrides, **extra}) if extra else self.settings
        made = ProgressScheduler(
            settings=settings,
            engine=self.engine,
            providers=self.providers,
            client=client or self.client,
            **({} if posts_per_tick is None else {"posts_per_tick": posts_per_tick}),
        )
        self._schedulers.append(made)
        return made

    def start_job(
        self,
        *,
        validation: bool = True,
        training_file: str | None = None,
        provider_name: str = "openai",
        model: str = "gpt-4o-mini-2024-07-18",
        hyperparameters: dict[str, Any] | None = None,
        **script: Any,
    ) -> TrainingJob:
        """Drop a dataset, create a provider job, post "job started": as the bot does.

        ``training_file`` reuses an uploaded file (the benchmark creates hundreds of jobs).
        """
        n = next(_numbers)
        parent = self.slack.post_user_message(CHANNEL, f"dataset {n}", user=UPLOADER)
        if script and self.openai is not None:
            self.openai.script_next_job(**script)
        provider = self.providers[provider_name]
        training = training_file or provider.upload_file(self.data)
        job = provider.create_job(
            model=model,
            training_file=training,
            validation_file=training if validation else None,
            hyperparameters=hyperparameters,
        )
        with session_scope(self.engine) as session:
            dataset = Dataset(
                short_id=f"ds-{n:04d}",
                slack_file_id=f"F{n:08d}",
                channel_id=CHANNEL,
                thread_ts=parent["ts"],
                uploader_id=UPLOADER,
                file_name="train.jsonl",
                size_bytes=self.data.stat().st_size,
                sha256=hashlib.sha256(self.data.read_bytes()).hexdigest(),
                verdict="ready",
                format="chat",
                examples=12,
                model=model,
                report_json=json.dumps({"billed_tokens_per_epoch": 240}),
            )
            session.add(dataset)
            session.flush()
            dataset_id = dataset.id
        started = self.client.chat_postMessage(
            channel=CHANNEL, thread_ts=parent["ts"], text=f"Job job-{n:04d} started"
        )
        row = TrainingJob(
            short_id=f"job-{n:04d}",
            request_id=f"req-{n}-{os.getpid()}",
            dataset_id=dataset_id,
            provider=provider_name,
            provider_job_id=job.id,
            base_model=job.model,
            status=str(job.status),
            channel_id=CHANNEL,
            thread_ts=parent["ts"],
            progress_ts=started["ts"],
            started_by=STARTER,
            estimated_cost_usd=0.02,
        )
        with session_scope(self.engine) as session:
            session.add(row)
        return row

    # --- reading the thread back ---------------------------------------------------
    def replies(self, job: TrainingJob) -> list[dict[str, Any]]:
        """The bot's replies in the job's thread except the progress message."""
        return [
            m for m in self.slack.bot_messages(CHANNEL, job.thread_ts) if m["ts"] != job.progress_ts
        ]

    def reply_keys(self, job: TrainingJob) -> list[str]:
        """Milestone keys of the thread's replies, in thread order (the upload as "plot")."""
        keys = []
        for message in self.replies(job):
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == MARKER_EVENT and payload.get("job") == job.short_id:
                keys.append(payload["key"])
            elif any(
                f.get("name") == f"loss-curve-{job.short_id}.png"
                for f in message.get("files") or []
            ):
                keys.append("plot")
        return keys

    def progress_message(self, job: TrainingJob) -> dict[str, Any]:
        return self.slack.message(CHANNEL, str(job.progress_ts))
