"""``tunebot doctor`` as a user runs it: a real process, settings in the environment,
against the fake Slack, the fake OpenAI and a real worker on loopback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.fakeslack.api import FakeSlack
from cli.doctor import Check, compare_scopes, exit_code, manifest_scopes
from tests.fakes.openai_api import FakeOpenAI
from tests.worker.harness import API_KEY, WorkerProcess

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    from worker.tiny_model import write_tiny_model

    root = tmp_path_factory.mktemp("doctor-worker")
    model = write_tiny_model(root / "model")
    process = WorkerProcess(root / "data", model, root / "worker.log").start()
    yield process
    process.stop()


def run_doctor(env: dict[str, str], cwd: Path) -> tuple[int, str, str, dict[str, str]]:
    """Exit status, stdout, stderr and each table row's status by check name."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TUNEBOT_", "OPENAI_", "AZURE_", "DATABASE_"))
    }
    full = {**clean, "PYTHONPATH": str(ROOT), "COLUMNS": "260", **env}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "doctor"],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=180,
    )
    rows = {}
    for line in done.stdout.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃]", line)[1:-1]]
        if len(cells) == 4 and cells[1] in ("OK", "WARN", "FAIL"):
            rows[cells[0]] = cells[1]
    return done.returncode, done.stdout, done.stderr, rows


def test_everything_configured_and_working_exits_0(worker: WorkerProcess, tmp_path: Path) -> None:
    with FakeSlack() as slack, FakeOpenAI() as openai:
        env = {
            **slack.env(),
            "SLACK_APP_TOKEN": slack.app_token,
            **openai.env(),
            "TUNEBOT_WORKER_URL": worker.base_url,
            "TUNEBOT_WORKER_API_KEY": API_KEY,
            "TUNEBOT_ADMINS": "U0ADMIN",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
            "TUNEBOT_DATA_DIR": str(tmp_path / "data"),
        }
        status, out, err, rows = run_doctor(env, tmp_path)
        assert [c.method for c in slack.calls()][:1] == ["auth.test"]
    assert status == 0, out + err
    assert rows == {
        "Slack bot token": "OK",
        "Slack scopes": "OK",
        "Socket Mode app token": "OK",
        "Database": "OK",
        "Database schema": "OK",
        "Data folder": "OK",
        "Provider worker": "OK",
        "Worker models": "OK",
        "Provider openai": "OK",
        "Encoding o200k_base": "OK",
        "Encoding cl100k_base": "OK",
        "Who may start jobs": "OK",
    }, out
    assert "base: tiny" in out and "team Tunebot Test (T0TUNEBOT)" in out
    for secret in (slack.bot_token, slack.app_token, openai.api_key, API_KEY):
        assert secret not in out + err


def test_each_problem_is_a_failed_row_with_what_to_do(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    granted = [s for s in manifest_scopes() if s not in ("files:read", "reactions:write")]
    # A database this tunebot's migrations never made: tables but no revision.
    old = tmp_path / "old.db"
    import sqlite3

    with sqlite3.connect(old) as db:
        db.execute("CREATE TABLE dataset (id INTEGER PRIMARY KEY)")
    with FakeSlack(scopes=granted) as slack, FakeOpenAI() as openai:
        env = {
            **slack.env(),
            "SLACK_SIGNING_SECRET": "signing-secret-value",
            "OPENAI_API_KEY": "sk-wrong-key-000000",
            "OPENAI_BASE_URL": openai.base_url,
            "TUNEBOT_WORKER_URL": worker.base_url,
            "TUNEBOT_WORKER_API_KEY": "not-the-worker-key",
            "DATABASE_URL": f"sqlite:///{old}",
            "TUNEBOT_DATA_DIR": str(tmp_path / "data"),
        }
        status, out, err, rows = run_doctor(env, tmp_path)
    assert status == 1, out + err
    assert rows["Slack bot token"] == "OK"
    assert rows["Slack scopes"] == "FAIL" and "missing files:read, reactions:write" in out
    assert rows["HTTP mode signing secret"] == "OK"
    assert rows["Database schema"] == "FAIL" and "tunebot db upgrade" in out
    assert rows["Provider openai"] == "FAIL" and "Check OPENAI_API_KEY" in out
    assert rows["Provider worker"] == "FAIL" and "TUNEBOT_WORKER_API_KEY" in out
    assert rows["Who may start jobs"] == "WARN"
    assert "problem(s) stop `tunebot serve` working" in out
    for secret in ("signing-secret-value", "sk-wrong-key-000000", "not-the-worker-key"):
        assert secret not in out + err


def test_unreachable_slack_and_database_fail_without_a_traceback(tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-0-unreachable",
        "SLACK_API_BASE_URL": "http://127.0.0.1:9/api/",  # discard port: connection refused
        "DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'dir' / 'bot.db'}",
        "TUNEBOT_DATA_DIR": str(tmp_path / "data"),
    }
    status, out, err, rows = run_doctor(env, tmp_path)
    assert status == 1
    assert rows["Slack bot token"] == "FAIL" and "cannot reach" in out
    assert rows["Slack connection"] == "FAIL"
    assert rows["Database"] == "FAIL"
    assert rows["Providers"] == "WARN"
    assert "Traceback" not in out + err


def test_an_oauth_install_is_checked_by_its_settings(tmp_path: Path) -> None:
    env = {
        "SLACK_CLIENT_ID": "1111.2222",
        "SLACK_CLIENT_SECRET": "fake-client-secret",
        "SLACK_SIGNING_SECRET": "s3cret",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
    }
    _, out, err, rows = run_doctor(env, tmp_path)
    assert rows["Slack OAuth install"] == "OK", out + err
    assert "Slack bot token" not in rows
    _, out, _, rows = run_doctor({**env, "SLACK_BOT_TOKEN": "xoxb-1"}, tmp_path)
    assert rows["Slack OAuth install"] == "FAIL" and "unset SLACK_BOT_TOKEN" in out


def test_scopes_and_exit_code_rules() -> None:
    assert compare_scopes(["a", " b"], ["a", "b"]).status == "ok"
    assert compare_scopes(["a"], ["a", "b"]).detail == "missing b"
    assert exit_code([Check("x", "warn", "")]) == 0
    assert exit_code([Check("x", "ok", ""), Check("y", "fail", "")]) == 1
