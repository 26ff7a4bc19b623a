"""core never imports Slack or web-server code (DESIGN.md, Layout)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = ("slack_bolt", "slack_sdk", "fastapi", "starlette", "uvicorn", "bot", "worker")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_core_imports_no_slack_web_or_other_packages() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & set(FORBIDDEN_IN_CORE))
        for path in (ROOT / "core").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_worker_never_imports_bot() -> None:
    worker = ROOT / "worker"
    if not worker.exists():
        return
    offenders = [str(p) for p in worker.rglob("*.py") if "bot" in _imports(p)]
    assert offenders == []
