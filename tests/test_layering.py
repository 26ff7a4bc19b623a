"""The import graph and the roles of the packages (DESIGN.md, Layout; issue #9).

- ``core`` never imports Slack, web-server code, ``bot`` or ``worker``, and
  never spells a ``/finetune`` command: Slack wording belongs to ``bot``.
- ``bot`` and ``worker`` never import each other.
- Only the store speaks SQL: ``core/store/`` and ``worker/store.py``.
- Imports are plain: no ``import_module`` or ``__import__`` in ``bot``, ``cli``, ``core``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = ("slack_bolt", "slack_sdk", "fastapi", "starlette", "uvicorn", "bot", "worker")
# SQL statement builders: a module that imports one of these from SQLAlchemy or
# SQLModel builds SQL; one that calls .exec/.execute/.query runs it.
SQL_BUILDERS = {"select", "update", "insert", "delete", "text", "func", "or_", "and_"}
SQL_RUNNERS = {"exec", "execute", "query", "scalar", "scalars"}
STORE = ("core/store/", "worker/store.py")


def _modules(*packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _speaks_sql(path: Path) -> list[str]:
    """What in ``path`` builds or runs SQL: imported statement builders, .exec()-style calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] in ("sqlalchemy", "sqlmodel")
        ):
            found += [f"import {a.name}" for a in node.names if a.name in SQL_BUILDERS]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SQL_RUNNERS
        ):
            found.append(f".{node.func.attr}() line {node.lineno}")
    return found


def test_core_imports_no_slack_web_or_other_packages() -> None:
    offenders = {
        _rel(path): sorted(_imports(path) & set(FORBIDDEN_IN_CORE)) for path in _modules("core")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_core_never_spells_a_slack_command() -> None:
    offenders = [_rel(p) for p in _modules("core") if "/finetune" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_worker_never_imports_bot() -> None:
    assert [_rel(p) for p in _modules("worker") if "bot" in _imports(p)] == []


def test_bot_never_imports_worker() -> None:
    assert [_rel(p) for p in _modules("bot") if "worker" in _imports(p)] == []


def test_only_the_store_speaks_sql() -> None:
    offenders = {
        _rel(path): found
        for path in _modules("bot", "cli", "core", "worker")
        if not _rel(path).startswith(STORE) and (found := _speaks_sql(path))
    }
    assert offenders == {}


def test_sql_check_sees_a_query() -> None:
    """The rule above is not vacuous: the store itself is caught by it."""
    assert _speaks_sql(ROOT / "core/store/jobs.py")


def test_imports_are_plain() -> None:
    """No module loaded by a computed name (``importlib.import_module``, ``__import__``).

    ``importlib.resources``/``importlib.util.find_spec`` locate package data
    files (tiktoken encodings) and stay allowed: they import nothing.
    """
    offenders = []
    for path in _modules("bot", "cli", "core"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = (
                node.id
                if isinstance(node, ast.Name)
                else node.attr
                if isinstance(node, ast.Attribute)
                else None
            )
            imported = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            if name in ("import_module", "__import__") or "import_module" in imported:
                offenders.append(f"{_rel(path)}:{node.lineno}")
    assert offenders == []


def test_the_bot_never_imports_the_fake_slack_it_ships() -> None:
    # bot/fakeslack is a test double shipped for `tunebot demo` and the tests;
    # the bot itself must only ever talk to Slack through slack_sdk and bolt.
    def uses_fake(path: Path) -> bool:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name.startswith("bot.fakeslack") for name in names):
                return True
        return False

    offenders = [
        _rel(p)
        for p in _modules("bot")
        if not _rel(p).startswith("bot/fakeslack/") and uses_fake(p)
    ]
    assert offenders == []
