"""Every file in the bad-file corpus (corpus.py) through the real ``tunebot validate --json``.

The whole corpus runs once per session, a few processes at a time, each a real
``tunebot`` process with the environment it is given; each test then checks
one case's exit code and codes. Large files are generated into the session's
temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.datasets.strict_json import loads as strict_loads
from core.validation.codes import CODES
from tests.reliability.corpus import CASES, Case

TUNEBOT = Path(sys.executable).with_name("tunebot")
PARALLEL = 3


@dataclass(frozen=True)
class Run:
    exit: int
    report: dict[str, object] | None
    stderr: str
    fixed: Path | None


def _command(case: Case, path: Path, fixed: Path) -> list[str]:
    base = [str(TUNEBOT)] if TUNEBOT.exists() else [sys.executable, "-m", "cli.main"]
    command = [*base, "validate", str(path), "--json"]
    if case.model:
        command += ["--model", case.model]
    if case.fix:
        command += ["--fix", str(fixed)]
    return command


def _run(case: Case, folder: Path) -> Run:
    path = folder / (f"{case.name}.{case.suffix}" if case.suffix else case.name)
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        case.content(path)
    fixed = folder / f"{case.name}.fixed.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEBOT_")}
    env.update(case.env)
    done = subprocess.run(
        _command(case, path, fixed), capture_output=True, text=True, env=env, timeout=300
    )
    path.unlink()  # the large ones should not pile up in tmp
    report = json.loads(done.stdout) if done.stdout.strip() else None
    return Run(done.returncode, report, done.stderr, fixed if case.fix else None)


@pytest.fixture(scope="session")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Run]:
    """Run the selected cases (all of them, unless ``-k`` chose some) in parallel, once."""
    # Other modules parametrize a "case" too: only this corpus's Case values count.
    selected = {
        param.name
        for item in request.session.items
        if hasattr(item, "callspec") and isinstance(param := item.callspec.params.get("case"), Case)
    }
    folder = tmp_path_factory.mktemp("corpus")
    chosen = [case for case in CASES if case.name in selected]
    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(pool.map(lambda case: (case.name, _run(case, folder)), chosen))


def test_corpus_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 80
    assert len({case.name for case in CASES}) == len(CASES)
    assert {case.category for case in CASES} == {
        "bytes",
        "encoding",
        "structure",
        "size",
        "format",
        "spreadsheet",
    }
    assert {code for case in CASES for code in case.errors + case.warnings} <= set(CODES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.category}-{case.name}")
def test_bad_file_gets_its_verdict(case: Case, runs: dict[str, Run]) -> None:
    run = runs[case.name]
    assert "Traceback" not in run.stderr, run.stderr
    assert run.report is not None, f"no JSON report; stderr: {run.stderr}"
    report = run.report
    errors = report["errors"]
    warnings = report["warnings"]
    assert isinstance(errors, list) and isinstance(warnings, list)
    error_codes = {f["code"] for f in errors}
    warning_codes = {f["code"] for f in warnings}
    summary = f"exit {run.exit}, errors {sorted(error_codes)}, warnings {sorted(warning_codes)}"
    assert run.exit == case.exit, summary
    assert set(case.errors) <= error_codes, summary
    assert set(case.warnings) <= warning_codes, summary
    if case.exit == 0:
        assert not errors, summary
    assert report["readable"] is (case.exit != 2)
    assert all(f["message"] and f["code"] in CODES for f in errors + warnings)
    if case.line is not None:
        code = (case.errors + case.warnings)[0]
        first = next(f for f in errors + warnings if f["code"] == code)
        assert first["line"] == case.line, first
    if run.fixed is not None and report["fixed_path"]:
        _check_fixed(run.fixed, report)


def _check_fixed(path: Path, report: dict[str, object]) -> None:
    """The fixed file: one strict-JSON example per "\\n"-terminated line, nothing else."""
    data = path.read_bytes()
    rows = data.split(b"\n")
    assert rows[-1] == b""
    assert len(rows) - 1 == report["fixed_examples"]
    assert len(data.decode("utf-8").splitlines()) == report["fixed_examples"]
    for row in rows[:-1]:
        assert isinstance(strict_loads(row.decode("utf-8")), dict)
