"""``tunebot demo`` refuses bad options at once, with a message saying what to do."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli.main import app


def test_a_dataset_that_is_not_ready_is_refused_before_anything_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"nope": 1}\n')
    result = CliRunner().invoke(app, ["demo", "--dataset", str(bad)])
    assert result.exit_code == 2
    assert "bad.jsonl is not ready to train" in result.output
    assert "tunebot validate" in result.output


def test_html_into_a_missing_folder_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--html", str(tmp_path / "no" / "out.html")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_a_missing_dataset_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--dataset", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
