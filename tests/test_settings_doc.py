"""README's settings table and .env.example are generated from Settings and fail when
they drift; every setting has a description; every default in .env.example parses back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.config import Settings
from core.settings_doc import END, START, env_example, main, settings_table

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_has_a_description() -> None:
    missing = [name for name, f in Settings.model_fields.items() if not (f.description or "")]
    assert missing == []


def test_readme_and_env_example_are_current() -> None:
    assert main(["--root", str(ROOT), "--check"]) == 0, "run: python -m core.settings_doc"
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme
    for field in Settings.model_fields.values():
        assert f"| `{field.alias}` |" in readme and f"# {field.alias}=" in env_example()


def test_a_stale_table_is_caught_and_rewritten(tmp_path: Path) -> None:
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("| `DATABASE_URL` |", "| `OLD_DATABASE_URL` |"))
    assert main(["--root", str(tmp_path), "--check"]) == 1
    assert main(["--root", str(tmp_path)]) == 0
    assert readme.read_text() == (ROOT / "README.md").read_text()
    assert main(["--root", str(tmp_path), "--check"]) == 0


def test_readme_without_markers_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# no table here\n")
    with pytest.raises(ValueError, match="markers"):
        main(["--root", str(tmp_path)])
    assert START.startswith("<!--") and END.startswith("<!--")


def test_every_default_in_env_example_parses_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uncommenting a line as written keeps the default (what the file promises)."""
    monkeypatch.chdir(tmp_path)  # no .env here
    aliases = {f.alias: name for name, f in Settings.model_fields.items()}
    defaults = Settings()
    checked = 0
    for line in (ROOT / ".env.example").read_text().splitlines():
        variable, sep, value = line.removeprefix("# ").partition("=")
        if sep and variable in aliases and value:
            monkeypatch.setenv(variable, value)
            name = aliases[variable]
            assert getattr(Settings(), name) == getattr(defaults, name), variable
            monkeypatch.delenv(variable)
            checked += 1
    assert checked >= 15
