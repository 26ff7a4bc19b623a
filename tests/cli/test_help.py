"""``--help`` as people read it: flags without a value placeholder, the environment listed."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.env_help import WORKER_VARIABLES
from cli.main import app
from core.config import Settings


@pytest.mark.parametrize("command", [["validate"], ["serve"], ["worker"], ["db", "upgrade"], []])
def test_flags_show_no_bool_placeholder(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and "--help" in result.output


def test_serve_help_lists_every_setting_it_reads() -> None:
    text = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    assert "Environment (or .env)" in text
    for field in Settings.model_fields.values():
        assert f"{field.alias}:" in text, field.alias


def test_worker_help_lists_the_workers_variables() -> None:
    text = CliRunner().invoke(app, ["worker", "--help"], env={"COLUMNS": "200"}).output
    for name in WORKER_VARIABLES:
        assert f"{name}:" in text, name
    assert "SLACK_BOT_TOKEN" not in text
