"""``tunebot validate``: the real CLI through typer's runner, and once as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.core.validation.helpers import FIXTURES, good_rows, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TOY = FIXTURES / "openai" / "toy_chat_fine_tuning.jsonl"
REQUIRED = {
    "verdict",
    "format",
    "examples",
    "errors",
    "warnings",
    "tokens",
    "billed_tokens_per_epoch",
    "epochs",
    "trained_tokens",
    "estimated_cost_usd",
    "model",
    "encoding",
    "readable",
}


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("TUNEBOT_DEFAULT_MODEL", raising=False)
    return CliRunner()


def test_toy_file_json_not_ready(cli: CliRunner) -> None:
    result = cli.invoke(app, ["validate", str(TOY), "--model", "gpt-3.5-turbo-0125", "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert set(report) >= REQUIRED
    assert {"total", "min", "max", "mean", "p50", "p95", "assistant_total"} <= set(report["tokens"])
    assert (report["verdict"], report["examples"], report["tokens"]["max"]) == (
        "not_ready",
        5,
        8032,
    )
    assert {"code", "line", "example", "message"} <= set(report["errors"][0])


def test_ready_example_text_report(cli: CliRunner) -> None:
    result = cli.invoke(app, ["validate", str(EXAMPLES / "support_chat.jsonl")])
    assert result.exit_code == 0, result.output
    assert "READY" in result.stdout and "320 examples" in result.stdout
    assert "est. cost" in result.stdout


def test_unreadable_exits_2_with_json(cli: CliRunner) -> None:
    result = cli.invoke(app, ["validate", str(FIXTURES / "bad" / "utf16.jsonl"), "--json"])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["readable"] is False and report["errors"][0]["code"] == "not_utf8"


def test_bad_options_exit_2(cli: CliRunner, tmp_path: Path) -> None:
    data = str(EXAMPLES / "support_faq.csv")
    unknown = cli.invoke(app, ["validate", data, "--model", "gpt-9-ultra"])
    assert unknown.exit_code == 2 and "Unknown target model" in unknown.output
    no_fix = cli.invoke(app, ["validate", data, "--split", "0.1"])
    assert no_fix.exit_code == 2 and "--fix" in no_fix.output
    folder = cli.invoke(app, ["validate", data, "--fix", str(tmp_path)])
    assert folder.exit_code == 2 and "Cannot use" in folder.output
    bad_split = cli.invoke(
        app, ["validate", data, "--fix", str(tmp_path / "o.jsonl"), "--split", "1.5"]
    )
    assert bad_split.exit_code == 2


def test_text_mode_caps_findings_per_code_json_lists_all(cli: CliRunner, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "broken.jsonl", [*good_rows(20), *["{nope"] * 12])
    text = cli.invoke(app, ["validate", str(path)])
    assert text.exit_code == 1
    assert "invalid_json (12)" in text.stdout and "... and 7 more" in text.stdout
    assert text.stdout.count("The line is not JSON") == 5
    as_json = json.loads(cli.invoke(app, ["validate", str(path), "--json"]).stdout)
    assert [f["line"] for f in as_json["errors"]] == list(range(21, 33))


def test_fix_and_split_from_the_command_line(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "faq.jsonl"
    result = cli.invoke(
        app,
        [
            "validate",
            str(EXAMPLES / "support_faq.csv"),
            "--fix",
            str(out),
            "--split",
            "0.25",
            "--seed",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Fixed file" in result.stdout and "Validation split" in result.stdout
    assert len(out.read_text().splitlines()) == 45
    assert len((tmp_path / "faq.valid.jsonl").read_text().splitlines()) == 15


def test_default_model_from_environment(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEBOT_DEFAULT_MODEL", "gpt-3.5-turbo-0125")
    result = cli.invoke(app, ["validate", str(EXAMPLES / "support_faq.csv"), "--json"])
    report = json.loads(result.stdout)
    assert (report["model"], report["encoding"]) == ("gpt-3.5-turbo-0125", "cl100k_base")


def test_installed_command_as_a_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "validate",
            str(EXAMPLES / "support_chat.jsonl"),
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["verdict"], report["examples"], report["format"]) == ("ready", 320, "chat")


def test_fix_on_a_file_it_cannot_fix_says_so(cli: CliRunner, tmp_path: Path) -> None:
    # DPO pairs under old key names: every example is dropped, nothing is repaired.
    old_keys = [
        {"prompt": f"Q{i}?", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(5)
    ]
    source = write_jsonl(tmp_path / "dpo_old_keys.jsonl", old_keys)
    out = tmp_path / "fixed.jsonl"
    result = cli.invoke(app, ["validate", str(source), "--fix", str(out)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.stdout.split())
    assert "--fix could not repair this file" in text and "(5 examples)" not in text
    # Fixable problems, but too few examples: the fixed file is written and still not ready.
    few = [
        {
            "messages": [
                {"role": "user", "content": f" Q{i} "},
                {"role": "assistant", "content": "A"},
            ]
        }
        for i in range(5)
    ]
    result = cli.invoke(
        app, ["validate", str(write_jsonl(tmp_path / "few.jsonl", few)), "--fix", str(out)]
    )
    text = " ".join(result.stdout.split())
    assert "(5 examples)" in text and "still not ready" in text and "too_few_examples" in text
