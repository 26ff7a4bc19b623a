"""Settings as users give them: environment variables on the real ``tunebot`` process.

Why subprocesses: the crash on ``TUNEBOT_ADMINS=U1,U2`` happened while
pydantic-settings read the environment, a step tests that build ``Settings``
in code never run. Each test here starts ``tunebot`` with an environment
cleaned of the developer's own settings, in a folder without a ``.env``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot.fakeslack.api import FakeSlack
from bot.fakeslack.events import SlackEventSender
from tests.worker.harness import write_chat_jsonl

ROOT = Path(__file__).resolve().parents[2]
OURS = ("SLACK_", "TUNEBOT_", "OPENAI_", "AZURE_", "DATABASE_URL")
SIGNING_SECRET = "s3cret-signing"
ADMIN, OTHER_ADMIN, STRANGER = "U0ALICE", "U0CAROL", "U0BOB"
WAIT = 60


def tunebot_command() -> list[str]:
    """The installed ``tunebot`` script next to this interpreter, else ``python -m cli.main``."""
    script = shutil.which("tunebot", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "cli.main"]


def clean_env(cwd: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=f"sqlite:///{cwd / 'tunebot.db'}",
        TUNEBOT_DATA_DIR=str(cwd / "data"),
    )
    env.update(values)
    return env


def run_tunebot(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*tunebot_command(), *args],
        cwd=cwd,
        env=clean_env(cwd, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ready_file(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl")


# --- list settings -----------------------------------------------------------


def test_validate_ignores_bot_settings_even_broken_ones(tmp_path: Path, ready_file: Path) -> None:
    broken_bot = {
        "TUNEBOT_ADMINS": '["U1",',
        "TUNEBOT_MONTHLY_BUDGET_USD": "nan",
        "SLACK_SIGNING_SECRET": "",
        "TUNEBOT_POLL_SECONDS": "soon",
    }
    result = run_tunebot(tmp_path, "validate", str(ready_file), "--json", **broken_bot)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "warnings" and report["examples"] == 10  # few_examples only


class ServeProcess:
    """``tunebot serve`` in HTTP mode against the fake Slack, with extra settings."""

    def __init__(self, tmp_path: Path, fake_slack: FakeSlack, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [*tunebot_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=tmp_path,
            env=clean_env(tmp_path, **fake_slack.env(), SLACK_SIGNING_SECRET=SIGNING_SECRET, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + WAIT
        while True:
            if self.process.poll() is not None:
                output = self.process.stdout.read() if self.process.stdout else ""
                raise AssertionError(f"tunebot serve exited:\n{output}")
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "tunebot serve did not start"
                time.sleep(0.2)

    def stop(self) -> str:
        self.process.terminate()
        return self.process.communicate(timeout=30)[0]


@pytest.fixture
def serve_with(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[Callable[..., ServeProcess]]:
    """Factory: start ``tunebot serve`` with extra settings; stopped after the test."""
    started: list[ServeProcess] = []

    def start(**env: str) -> ServeProcess:
        process = ServeProcess(tmp_path, fake_slack, **env)
        started.append(process)
        process.wait_ready()
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.stop()


@pytest.mark.parametrize(
    "admins",
    [
        ADMIN,
        f"{ADMIN},{OTHER_ADMIN}",
        f" {ADMIN} , {OTHER_ADMIN} ",
        f'["{ADMIN}", "{OTHER_ADMIN}"]',
    ],
    ids=["one-id", "commas", "commas-spaces", "json-list"],
)
def test_admins_as_the_readme_writes_them(
    admins: str, serve_with: Callable[..., ServeProcess], fake_slack: FakeSlack
) -> None:
    bot = serve_with(TUNEBOT_ADMINS=admins)
    sender = SlackEventSender(
        bot.url + "/slack/events", signing_secret=SIGNING_SECRET, slack=fake_slack
    )

    def reply(user: str) -> str:
        before = len(fake_slack.responses(user=user))
        response = sender.command("start ds-nope", user_id=user, channel_id="C0TUNEBOT")
        assert response.status_code == 200
        found = fake_slack.wait_for(lambda: fake_slack.responses(user=user)[before:], timeout=WAIT)
        return str(found[0]["text"])

    try:
        # An admin gets past the permission check (to "no such dataset"); others do not.
        assert "No dataset `ds-nope`" in reply(ADMIN)
        assert "Only tunebot admins" in reply(STRANGER)
    finally:
        sender.close()
        output = bot.stop()
    assert "every member of the workspace can start" not in output
    assert "Traceback" not in output


# --- invalid settings: one message, exit 2, from every subcommand --------------

BAD_BOT_SETTINGS = {
    "TUNEBOT_ADMINS": '["U1",',
    "TUNEBOT_MONTHLY_BUDGET_USD": "nan",
    "TUNEBOT_POLL_SECONDS": "soon",
    "TUNEBOT_WORKER_LOADED_MODELS": "0",
    "SLACK_SIGNING_SECRET": "",
    "TUNEBOT_WORKER_API_KEY": " ",
    "OPENAI_API_KEY": "sk-must-not-be-printed",
    "TUNEBOT_MAX_FILE_BYTES": "-1",
    "SLACK_CLIENT_SECRET": "",
    "SLACK_OAUTH_SCOPES": "chat:write,Chat Write!",
    "SLACK_OAUTH_REDIRECT_URI": "tunebot.example.com/slack/oauth_redirect",
}
EXPECTED = {  # each bad setting -> what its line must say it expects
    "TUNEBOT_ADMINS": "comma-separated list",
    "TUNEBOT_MONTHLY_BUDGET_USD": "finite number",
    "TUNEBOT_POLL_SECONDS": "valid number",
    "TUNEBOT_WORKER_LOADED_MODELS": "greater than or equal to 1",
    "SLACK_SIGNING_SECRET": "empty",
    "TUNEBOT_WORKER_API_KEY": "empty",
    "TUNEBOT_MAX_FILE_BYTES": "greater than 0",
    "SLACK_CLIENT_SECRET": "empty",
    "SLACK_OAUTH_SCOPES": "Slack scope names",
    "SLACK_OAUTH_REDIRECT_URI": "https:// URL",
}


def _assert_one_clear_message(
    result: subprocess.CompletedProcess[str], expected: dict[str, str]
) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "pydantic" not in result.stderr.lower()
    assert result.stderr.count("Error:") == 1, result.stderr
    assert f"{len(expected)} settings are invalid" in result.stderr
    lines = result.stderr.splitlines()
    for name, expects in expected.items():
        line = next((line for line in lines if f"- {name}" in line), None)
        assert line is not None, f"{name} not named in:\n{result.stderr}"
        assert expects in line, line


@pytest.mark.parametrize(
    "args",
    [["serve"], ["worker", "--model", "tiny=./tiny"]],
    ids=["serve", "worker"],
)
def test_bad_settings_are_listed_with_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = run_tunebot(tmp_path, *args, **BAD_BOT_SETTINGS)
    _assert_one_clear_message(result, EXPECTED)
    assert "sk-must-not-be-printed" not in result.stderr + result.stdout


def test_validate_lists_its_own_bad_settings(tmp_path: Path, ready_file: Path) -> None:
    bad = {"TUNEBOT_MAX_FILE_BYTES": "lots", "TUNEBOT_PRICES": '{"gpt-4o-mini": NaN}'}
    result = run_tunebot(tmp_path, "validate", str(ready_file), **bad)
    _assert_one_clear_message(
        result, {"TUNEBOT_MAX_FILE_BYTES": "valid integer", "TUNEBOT_PRICES": "finite number"}
    )


def test_an_empty_signing_secret_is_refused_at_startup(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    # Before: the bot started and answered every Slack request with 500.
    result = run_tunebot(
        tmp_path, "serve", "--port", str(free_port()), **fake_slack.env(), SLACK_SIGNING_SECRET=""
    )
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET: is set but empty" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("budget", ["nan", "inf", "-inf", "Infinity", "-5"])
def test_a_budget_that_is_not_a_finite_amount_is_refused(
    tmp_path: Path, fake_slack: FakeSlack, budget: str
) -> None:
    # Before: nan and inf silently turned the spend cap off.
    result = run_tunebot(
        tmp_path,
        "serve",
        "--port",
        str(free_port()),
        **fake_slack.env(),
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        TUNEBOT_MONTHLY_BUDGET_USD=budget,
    )
    assert result.returncode == 2, result.stderr
    line = next(line for line in result.stderr.splitlines() if "TUNEBOT_MONTHLY_BUDGET_USD" in line)
    assert "finite number" in line or "greater than or equal to 0" in line
