"""What an installed tunebot carries: the migration scripts (package data), its
version, and an SPDX licence, checked on a wheel built from this tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "."]

CHECK = """
import core, worker
from core.store.engine import create_db_engine
from core.store.schema import DATABASE
from worker.store import WORKER_SCHEMA, store_engine
from pathlib import Path
DATABASE.upgrade(create_db_engine("sqlite:///bot.db"))
WORKER_SCHEMA.upgrade(store_engine(Path(".")))
print(core.__file__, worker.__file__, DATABASE.head(), WORKER_SCHEMA.head())
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this tree, unpacked as pip would lay it into site-packages."""
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools leaves build/ and *.egg-info where it builds.
    source = out / "source"
    skip = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", "tests")
    shutil.copytree(ROOT, source, ignore=skip)
    subprocess.run(
        [*PIP_WHEEL, "-w", str(out / "dist")],
        check=True,
        capture_output=True,
        cwd=source,
    )
    site = out / "site"
    with zipfile.ZipFile(next((out / "dist").glob("tunebot-*.whl"))) as wheel:
        wheel.extractall(site)
    return site


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,  # not the source tree: only the unpacked wheel is importable as tunebot
        env={**env, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_installed_tunebot_finds_its_migrations(installed: Path, tmp_path: Path) -> None:
    result = _run(installed, tmp_path, "-c", CHECK)
    assert result.returncode == 0, result.stderr
    core_file, worker_file, *heads = result.stdout.split()
    assert core_file.startswith(str(installed)) and worker_file.startswith(str(installed))
    assert all(heads)
    assert (tmp_path / "bot.db").exists() and (tmp_path / "worker.db").exists()


def test_version_and_spdx_licence(installed: Path, tmp_path: Path) -> None:
    metadata = next(installed.glob("tunebot-*.dist-info")) / "METADATA"
    text = metadata.read_text()
    assert "License-Expression: MIT" in text
    version = next(line.split(": ")[1] for line in text.splitlines() if line.startswith("Version"))
    result = _run(installed, tmp_path, "-m", "cli.main", "--version")
    assert result.stdout.strip() == f"tunebot {version}", result.stderr
