"""Many workspaces through Slack's OAuth install (#13), end to end.

The real bolt app in HTTP mode is installed into two workspaces of the fake
Slack through the real redirect flow (``/slack/install`` → **Allow** →
``/slack/oauth_redirect`` → ``oauth.v2.access``), then driven with signed
requests from both. Workspace B's dataset, job, A/B test and votes are made by
B's people through the bot; workspace A's people then try to see, start from,
cancel and vote on them.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, create_engine
from sqlmodel import select

from bot.background.progress_scheduler import start_scheduler
from bot.fakeslack.api import FakeSlack
from bot.fakeslack.events import SlackEventSender
from bot.fakeslack.oauth import SlackTeam
from bot.fakeslack.payloads import event_callback, message_event
from bot.oauth import BOT_SCOPES
from core.store.datasets import Dataset
from core.store.edit_budget import EditSpend
from core.store.engine import session_scope
from core.store.evaluation import AbSession, AbVote
from core.store.installations import BOTS, INSTALLATIONS, OAUTH_STATES
from core.store.jobs import TrainingJob
from core.store.schema import DATABASE
from tests.bot.flows.test_drop import chat_jsonl
from tests.bot.harness import SIGNING_SECRET, RunningBot, make_settings, start_bot
from tests.bot.test_probes_e2e import base_env, free_port, running, wait_ok
from tests.fakes.openai_api import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "C0SHARED"  # the same channel id in both workspaces: only the team tells them apart
TEAM_A, TEAM_B = "T0TUNEBOT", "T0OTHER"
ALICE, CAROL = "U0ALICE", "U0CAROL"  # Alice works in A, Carol in B
BASE, FT = "gpt-4o-mini-2024-07-18", "ft:gpt-4o-mini-2024-07-18:b::tuned"
WAIT = 10.0


@dataclass
class TwoTeams:
    bot: RunningBot
    slack: FakeSlack
    team_b: SlackTeam
    sender_b: SlackEventSender
    http: httpx.Client


def install(http: httpx.Client, slack: FakeSlack, team_id: str, user: str) -> httpx.Response:
    """What an installer does: open the install page, click Allow, follow the redirect."""
    page = http.get("/slack/install")
    assert page.status_code == 200, page.text
    link = re.search(r'href="(https://slack.com/oauth/v2/authorize\?[^"]+)"', page.text)
    assert link is not None, page.text
    authorize = httpx.URL(link.group(1).replace("&amp;", "&"))
    assert authorize.params["scope"] == ",".join(BOT_SCOPES)
    state = authorize.params["state"]
    code = slack.authorize(team_id, user_id=user, scopes=BOT_SCOPES)
    # bolt sets the state cookie Secure; the browser sends it back on https.
    cookie = page.headers["set-cookie"].split(";", 1)[0]
    return http.get(
        "/slack/oauth_redirect", params={"code": code, "state": state}, headers={"Cookie": cookie}
    )


@pytest.fixture
def teams(tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI) -> Iterator[TwoTeams]:
    fake_openai.set_responder(FT, lambda m, b: f"tuned answer to {m[-1]['content']}")
    fake_openai.set_responder(BASE, lambda m, b: f"base answer to {m[-1]['content']}")
    team_b = fake_slack.add_team(TEAM_B)
    for team, user in ((fake_slack, ALICE), (team_b, CAROL)):
        team.add_user(user)
        team.add_channel(CHANNEL, name="fine-tuning")
    settings = make_settings(
        tmp_path,
        fake_slack,
        SLACK_BOT_TOKEN=None,
        SLACK_CLIENT_ID=fake_slack.oauth.client_id,
        SLACK_CLIENT_SECRET=fake_slack.oauth.client_secret,
        OPENAI_API_KEY=fake_openai.api_key,
        OPENAI_BASE_URL=fake_openai.base_url,
        TUNEBOT_PROVIDER_MAX_RETRIES=0,
        TUNEBOT_MIN_EDIT_SECONDS=0,
        TUNEBOT_POLL_SECONDS=0.1,  # each scheduler tick below polls the job
        TUNEBOT_ADMINS=[ALICE, CAROL],
    )
    bot = start_bot(settings, fake_slack)
    sender_b = SlackEventSender(
        f"{bot.url}/slack/events", signing_secret=SIGNING_SECRET, slack=team_b
    )
    http = httpx.Client(base_url=bot.url, timeout=WAIT)
    try:
        yield TwoTeams(bot, fake_slack, team_b, sender_b, http)
    finally:
        http.close()
        sender_b.close()
        bot.stop()


def _installed(t: TwoTeams) -> None:
    for team_id, user in ((TEAM_A, ALICE), (TEAM_B, CAROL)):
        done = install(t.http, t.slack, team_id, user)
        assert done.status_code == 200, done.text
        assert t.slack.installed_tokens(team_id), f"no token issued in {team_id}"


def _b_job(t: TwoTeams) -> tuple[dict[str, Any], str, str]:
    """Workspace B's dataset and trained job (a file drop in B's channel, rows for it)."""
    parent = t.team_b.post_user_message(CHANNEL, "faq.jsonl", user=CAROL)
    with session_scope(t.bot.ctx.engine) as db:
        dataset = Dataset(
            short_id="ds-bbbbbb",
            slack_file_id="F0B",
            channel_id=CHANNEL,
            team_id=TEAM_B,
            thread_ts=parent["ts"],
            uploader_id=CAROL,
            file_name="faq.jsonl",
            sha256="0" * 64,
            verdict="ready",
            format="chat",
            model=BASE,
            report_json="{}",
        )
        db.add(dataset)
        db.flush()
        db.add(
            TrainingJob(
                short_id="job-bbbbbb",
                request_id="req-b",
                dataset_id=dataset.id,
                provider="openai",
                base_model=BASE,
                fine_tuned_model=FT,
                status="succeeded",
                team_id=TEAM_B,
                channel_id=CHANNEL,
                thread_ts=parent["ts"],
                started_by=CAROL,
            )
        )
    return parent, "ds-bbbbbb", "job-bbbbbb"


def _reply(team: FakeSlack | SlackTeam, user: str, before: int) -> str:
    """The text of the next response_url reply to ``user`` in ``team``."""

    def found() -> list[dict[str, Any]]:
        return team.responses(user=user)[before:]

    got = wait(found, what=f"a reply to {user}")
    return str(got[0].get("text") or "")


def wait(predicate: Any, *, what: str) -> Any:
    from bot.fakeslack.waiting import wait_for

    return wait_for(predicate, timeout=WAIT, interval=0.05, message=what)


def _command(
    t: TwoTeams, text: str, *, team: FakeSlack | SlackTeam, user: str, team_id: str
) -> str:
    sender = t.bot.sender if team is t.slack else t.sender_b
    before = len(team.responses(user=user))
    response = sender.command(text, user_id=user, channel_id=CHANNEL, team_id=team_id)
    assert response.status_code == 200, response.text
    return _reply(team, user, before)


def _ephemeral(team: FakeSlack | SlackTeam, user: str, before: int) -> str:
    got = wait(lambda: team.ephemerals(user=user)[before:], what=f"an ephemeral to {user}")
    return str(got[0].get("text") or "")


def test_a_workspace_never_sees_or_touches_another_workspaces_things(
    teams: TwoTeams, fake_openai: FakeOpenAI
) -> None:
    t = teams
    _installed(t)
    parent, dataset_b, job_b = _b_job(t)

    # B's people use their own things, through B's token.
    assert job_b in _command(t, f"status {job_b}", team=t.team_b, user=CAROL, team_id=TEAM_B)
    listed_b = _command(t, "list", team=t.team_b, user=CAROL, team_id=TEAM_B)
    assert dataset_b in listed_b and job_b in listed_b
    t.sender_b.action(
        "ab_start", user_id=CAROL, value=job_b, channel_id=CHANNEL, message=parent, team_id=TEAM_B
    )
    root = wait(
        lambda: [m for m in t.team_b.bot_messages(CHANNEL) if "A/B test" in (m.get("text") or "")],
        what="B's A/B root",
    )[0]
    wait(lambda: _session(t) and _session(t).thread_ts == root["ts"], what="session thread")
    session = _session(t)
    assert session is not None and session.team_id == TEAM_B
    prompt = t.team_b.post_user_message(CHANNEL, "hello?", user=CAROL, thread_ts=root["ts"])
    t.sender_b.send_envelope(event_callback(message_event(CHANNEL, prompt), team_id=TEAM_B))
    pair = wait(
        lambda: [
            m
            for m in t.team_b.bot_messages(CHANNEL, root["ts"])
            if (m.get("text") or "").startswith("Prompt ")
        ],
        what="B's answered prompt",
    )[0]
    prompt_id = next(
        e["value"] for b in pair["blocks"] if b["type"] == "actions" for e in b["elements"]
    )

    # A's person, in a channel with the same id, finds none of it.
    listed_a = _command(t, "list", team=t.slack, user=ALICE, team_id=TEAM_A)
    assert dataset_b not in listed_a and job_b not in listed_a
    assert f"No job `{job_b}`" in _command(
        t, f"status {job_b}", team=t.slack, user=ALICE, team_id=TEAM_A
    )
    assert f"No dataset `{dataset_b}`" in _command(
        t, f"start {dataset_b}", team=t.slack, user=ALICE, team_id=TEAM_A
    )
    assert f"No job `{job_b}`" in _command(
        t, f"cancel {job_b}", team=t.slack, user=ALICE, team_id=TEAM_A
    )
    assert f"No A/B session `{session.short_id}`" in _command(
        t, f"ab results {session.short_id}", team=t.slack, user=ALICE, team_id=TEAM_A
    )

    clicks = (
        ("progress_cancel", job_b, "There is no job"),
        ("ab_start", job_b, "no longer exists"),
        ("ab_vote_a", prompt_id, "no longer exists"),
    )
    for action, value, refusal in clicks:
        before = len(t.slack.ephemerals(user=ALICE))
        t.bot.sender.action(
            action, user_id=ALICE, value=value, channel_id=CHANNEL, message=parent, team_id=TEAM_A
        )
        assert refusal in _ephemeral(t.slack, ALICE, before), action
    with session_scope(t.bot.ctx.engine) as db:
        assert db.exec(select(AbVote)).all() == []
        job = db.exec(select(TrainingJob).where(TrainingJob.short_id == job_b)).one()
        assert job.status == "succeeded" and job.cancelled_by is None

    # Carol's own vote counts, recorded with her workspace.
    t.sender_b.action(
        "ab_vote_a",
        user_id=CAROL,
        value=prompt_id,
        channel_id=CHANNEL,
        message=pair,
        team_id=TEAM_B,
    )
    votes = wait(lambda: _votes(t), what="Carol's vote")
    assert [(v.user_id, v.team_id) for v in votes] == [(CAROL, TEAM_B)]
    # Nothing of B's ever went to A's workspace.
    assert t.slack.bot_messages(CHANNEL) == []
    assert all(c.error is None for c in t.slack.calls() if c.method != "oauth.v2.access")


def _session(t: TwoTeams) -> AbSession | None:
    with session_scope(t.bot.ctx.engine) as db:
        return db.exec(select(AbSession)).first()


def _votes(t: TwoTeams) -> list[AbVote]:
    with session_scope(t.bot.ctx.engine) as db:
        return list(db.exec(select(AbVote)))


def test_a_file_dropped_in_b_is_fetched_and_reported_with_bs_token(teams: TwoTeams) -> None:
    t = teams
    _installed(t)
    info = t.team_b.add_file("faq.jsonl", chat_jsonl(), user=CAROL, channel=CHANNEL)
    channel, message = t.team_b.file_message(info["id"])
    envelope = event_callback(message_event(channel, message), team_id=TEAM_B)
    assert t.sender_b.send_envelope(envelope).status_code == 200
    report = wait(
        lambda: [
            m
            for m in t.team_b.bot_messages(CHANNEL, message["ts"])
            if "Ready to fine-tune" in (m.get("text") or "")
        ],
        what="B's validation report",
    )[0]
    assert "ds-" in json.dumps(report["blocks"])
    with session_scope(t.bot.ctx.engine) as db:
        (dataset,) = db.exec(select(Dataset)).all()
    assert dataset.team_id == TEAM_B and dataset.examples == 20
    # Seen from B, not from A (same channel id).
    assert dataset.short_id in _command(t, "list", team=t.team_b, user=CAROL, team_id=TEAM_B)
    assert dataset.short_id not in _command(t, "list", team=t.slack, user=ALICE, team_id=TEAM_A)
    assert t.slack.bot_messages(CHANNEL) == []


def test_oauth_v2_access_is_strict_and_a_failed_install_stores_nothing(
    teams: TwoTeams,
) -> None:
    t = teams
    page = t.http.get("/slack/install")
    state = re.search(r"state=([^&\"]+)", page.text)
    assert state is not None
    cookie = page.headers["set-cookie"].split(";", 1)[0]
    failed = t.http.get(
        "/slack/oauth_redirect",
        params={"code": "not-a-code", "state": state.group(1)},
        headers={"Cookie": cookie},
    )
    assert failed.status_code >= 400  # bolt's failure page
    assert [c.error for c in t.slack.calls("oauth.v2.access")] == ["invalid_code"]
    assert t.slack.installed_tokens(TEAM_A) == []
    store = t.bot.ctx.clients
    assert (
        store is not None
        and store.installation_store.find_bot(enterprise_id=None, team_id=TEAM_A) is None
    )

    # Slack's own checks, called as bolt calls them (HTTP Basic with the app's credentials).
    code = t.slack.authorize(TEAM_A, user_id=ALICE, redirect_uri="https://x.example/r")
    client = WebClient(base_url=t.slack.base_url)
    for secret, redirect, error in (
        ("wrong", "https://x.example/r", "bad_client_secret"),
        (t.slack.oauth.client_secret, "https://x.example/other", "bad_redirect_uri"),
    ):
        with pytest.raises(SlackApiError) as raised:
            client.oauth_v2_access(
                client_id=t.slack.oauth.client_id,
                client_secret=secret,
                code=code,
                redirect_uri=redirect,
            )
        assert raised.value.response["error"] == error
        code = t.slack.authorize(TEAM_A, user_id=ALICE, redirect_uri="https://x.example/r")
    with pytest.raises(SlackApiError) as raised:
        client.oauth_v2_access(client_id="9.9", client_secret="x", code=code)
    assert raised.value.response["error"] == "invalid_client_id"


@pytest.mark.parametrize("told", ["this replica", "another replica"])
def test_uninstall_deletes_the_install_and_background_posting_stops_quietly(
    teams: TwoTeams, fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture, told: str
) -> None:
    t = teams
    _installed(t)
    parent = t.team_b.post_user_message(CHANNEL, "faq.jsonl", user=CAROL)
    running = _provider_job(fake_openai)
    with session_scope(t.bot.ctx.engine) as db:
        db.add(
            TrainingJob(
                short_id="job-brun01",
                request_id="req-brun",
                provider="openai",
                provider_job_id=running,
                base_model=BASE,
                status="running",
                team_id=TEAM_B,
                channel_id=CHANNEL,
                thread_ts=parent["ts"],
                started_by=CAROL,
            )
        )
    scheduler = start_scheduler(t.bot.ctx, start=False)
    try:
        scheduler.tick()  # installed: the job's thread gets its progress message, in B
        assert t.team_b.bot_messages(CHANNEL, parent["ts"])
        assert t.slack.bot_messages(CHANNEL) == []
        fake_openai.advance(running, ticks=2)
        time.sleep(0.15)
        calls = len(t.slack.calls())
        scheduler.tick()  # progress moved on: B's thread is updated, with B's token
        assert "chat.update" in [c.method for c in t.slack.calls()[calls:]]
        # Slack's chat.update limit is per workspace: so is the budget it was granted from.
        with session_scope(t.bot.ctx.engine) as db:
            assert {row.workspace for row in db.exec(select(EditSpend))} == {TEAM_B}

        t.slack.uninstall(TEAM_B)  # Slack revokes B's tokens and tells the app
        clients = t.bot.ctx.clients
        assert clients is not None
        if told == "this replica":
            event = {"type": "app_uninstalled", "event_ts": "1700000000.000100"}
            envelope = event_callback(event, team_id=TEAM_B)
            assert t.sender_b.send_envelope(envelope).status_code == 200
        else:  # its bolt deleted the install; this one still holds B's token in its cache
            other = SQLAlchemyInstallationStore(
                client_id=t.slack.oauth.client_id, engine=t.bot.ctx.engine
            )
            other.delete_all(enterprise_id=None, team_id=TEAM_B)
        wait(
            lambda: clients.installation_store.find_bot(enterprise_id=None, team_id=TEAM_B) is None,
            what="B's install deleted",
        )
        assert clients.installation_store.find_bot(enterprise_id=None, team_id=TEAM_A)

        with caplog.at_level(logging.WARNING, logger="bot.slack_clients"):
            fake_openai.advance(running, ticks=2)
            time.sleep(0.15)
            calls = len(t.slack.calls())
            scheduler.tick()
            # Told here: nothing is sent. Told elsewhere: Slack refuses the cached
            # token, which is dropped, and the store (where it is gone) read again.
            errors = {c.error for c in t.slack.calls()[calls:]}
            assert errors == (set() if told == "this replica" else {"token_revoked"})
            calls = len(t.slack.calls())
            for _ in range(3):
                fake_openai.advance(running, ticks=1)
                time.sleep(0.15)
                scheduler.tick()
        assert len(t.slack.calls()) == calls  # nothing more sent with B's revoked token
        warned = [r for r in caplog.records if TEAM_B in r.getMessage()]
        assert len(warned) == 1, [r.getMessage() for r in caplog.records]
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    finally:
        scheduler.shutdown()


def test_revoked_bot_tokens_delete_only_that_workspaces_install(teams: TwoTeams) -> None:
    t = teams
    _installed(t)
    clients = t.bot.ctx.clients
    assert clients is not None
    t.slack.uninstall(TEAM_A)
    event = {
        "type": "tokens_revoked",
        "tokens": {"oauth": [], "bot": [t.slack.ws.bot_user_id]},
        "event_ts": "1700000000.000200",
    }
    assert t.bot.sender.send_envelope(event_callback(event, team_id=TEAM_A)).status_code == 200
    wait(
        lambda: clients.installation_store.find_bot(enterprise_id=None, team_id=TEAM_A) is None,
        what="A's install deleted",
    )
    assert clients.installation_store.find_bot(enterprise_id=None, team_id=TEAM_B) is not None
    # B is still served.
    assert "No jobs" in _command(t, "status", team=t.team_b, user=CAROL, team_id=TEAM_B)


def _provider_job(fake_openai: FakeOpenAI) -> str:
    """A job running on the fake OpenAI, long enough to outlast the test's ticks."""
    from openai import OpenAI

    fake_openai.script_next_job(total_steps=1000)

    client = OpenAI(api_key=fake_openai.api_key, base_url=fake_openai.base_url)
    rows = b"".join(
        b'{"messages":[{"role":"user","content":"q%d"},{"role":"assistant","content":"a%d"}]}\n'
        % (i, i)
        for i in range(10)
    )
    uploaded = client.files.create(file=("train.jsonl", rows), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id)
    client.close()
    return job.id


def test_the_real_serve_process_installs_through_oauth(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """``tunebot serve`` with only OAuth settings in its environment: ready at once,
    then installed into a workspace through its own /slack/install and redirect."""
    port = free_port()
    env = base_env(
        tmp_path,
        SLACK_CLIENT_ID=fake_slack.oauth.client_id,
        SLACK_CLIENT_SECRET=fake_slack.oauth.client_secret,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_BASE_URL=fake_slack.base_url,
    )
    log = tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    with running(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log) as process:
        wait_ok(f"{url}/readyz", process, log)
        with httpx.Client(base_url=url, timeout=WAIT) as http:
            done = install(http, fake_slack, TEAM_A, ALICE)
        assert done.status_code == 200, done.text
    tokens = fake_slack.installed_tokens(TEAM_A)
    assert len(tokens) == 1
    assert all(token not in log.read_text() for token in tokens)  # never logged
    assert fake_slack.oauth.client_secret not in log.read_text()


def test_bot_scopes_are_the_manifests() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert list(BOT_SCOPES) == manifest["oauth_config"]["scopes"]["bot"]


def test_migrated_install_tables_are_the_ones_slack_sdk_uses(tmp_path: Path) -> None:
    """Migration 0003 made them from core.store.installations: slack_sdk must agree."""
    engine = create_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    DATABASE.upgrade(engine)
    theirs = MetaData()
    for table in (
        SQLAlchemyInstallationStore(client_id="1", engine=engine).installations,
        SQLAlchemyInstallationStore(client_id="1", engine=engine).bots,
        SQLAlchemyOAuthStateStore(expiration_seconds=1, engine=engine).oauth_states,
    ):
        table.to_metadata(theirs)
    assert set(theirs.tables) == {INSTALLATIONS, BOTS, OAUTH_STATES}

    def install_tables(name: str | None, type_: str, parents: dict[str, str | None]) -> bool:
        if type_ == "schema":
            return True
        table = name if type_ == "table" else parents.get("table_name")
        return table in theirs.tables  # not the bot's other tables

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": install_tables}
        )
        assert compare_metadata(context, theirs) == []
    engine.dispose()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SLACK_CLIENT_ID": "1.2", "SLACK_SIGNING_SECRET": "s"}, "SLACK_CLIENT_SECRET"),
        ({"SLACK_CLIENT_SECRET": "x", "SLACK_SIGNING_SECRET": "s"}, "SLACK_CLIENT_ID"),
        (
            {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "x", "SLACK_APP_TOKEN": "xapp-1"},
            "unset SLACK_APP_TOKEN",
        ),
        (
            {
                "SLACK_CLIENT_ID": "1.2",
                "SLACK_CLIENT_SECRET": "x",
                "SLACK_SIGNING_SECRET": "s",
                "SLACK_BOT_TOKEN": "xoxb-1",
            },
            "unset SLACK_BOT_TOKEN",
        ),
    ],
)
def test_serve_refuses_a_mix_of_oauth_and_single_token_settings(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TUNEBOT_"))}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "serve", "--port", "9"],
        cwd=ROOT,
        env={
            **clean,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
            "SLACK_API_BASE_URL": "http://127.0.0.1:9/api/",  # never reached: refused first
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert named in done.stderr
    assert "Traceback" not in done.stderr
