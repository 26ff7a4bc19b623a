"""``tunebot worker`` refuses to start without a key or without the [train] extra."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app


def test_refuses_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNEBOT_WORKER_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["worker", "--model", "tiny=./tiny"])
    assert result.exit_code == 2
    assert "TUNEBOT_WORKER_API_KEY" in result.output and "--insecure-no-auth" in result.output


def test_bad_model_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEBOT_WORKER_API_KEY", "k")
    result = CliRunner().invoke(app, ["worker", "--model", "tiny"])
    assert result.exit_code == 2 and "NAME=PATH_OR_HUB_ID" in result.output


def test_says_how_to_install_the_train_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "trl" else real(name, *a)
    )
    result = CliRunner().invoke(app, ["worker", "--model", "tiny=./tiny"])
    assert result.exit_code == 2
    assert "Missing: trl" in result.output and "tunebot[train]" in result.output


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--launcher", "slurm"], {}, "Unknown launcher 'slurm'"),
        ([], {"TUNEBOT_WORKER_LAUNCHER": "k8s"}, "Unknown launcher 'k8s'"),
        (["--storage", "ftp://host/tunebot"], {}, "not a folder or a supported object-storage"),
        ([], {"TUNEBOT_WORKER_MAX_STORAGE_GB": "nan"}, "TUNEBOT_WORKER_MAX_STORAGE_GB=nan"),
        (
            [],
            {"TUNEBOT_WORKER_LAUNCHER": "ray", "RAY_ADDRESS": "http://127.0.0.1:9"},
            "Cannot reach the Ray cluster at http://127.0.0.1:9",
        ),
    ],
)
def test_scaling_options_are_checked(
    monkeypatch: pytest.MonkeyPatch,
    tiny_model_dir: Path,
    args: list[str],
    env: dict[str, str],
    expected: str,
) -> None:
    monkeypatch.setenv("TUNEBOT_WORKER_API_KEY", "k")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["worker", "--model", f"tiny={tiny_model_dir}", *args])
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_serving_needs_a_model() -> None:
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2 and "--model NAME=PATH_OR_HUB_ID" in result.output


def test_export_needs_a_worker_data_dir(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    result = CliRunner().invoke(
        app, ["worker", "export", "ft:tiny::abc", out, "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "not a worker data dir" in result.output
    assert not (tmp_path / "out").exists()
