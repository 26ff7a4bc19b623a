"""``tunebot worker``: serve the QLoRA worker's OpenAI-compatible API.

Example::

    python -m worker.tiny_model ./tiny            # an offline smoke-test model
    export TUNEBOT_WORKER_API_KEY=$(openssl rand -hex 24)
    tunebot worker --data-dir ./worker-data --model tiny=./tiny

The ``[train]`` extra (torch, transformers, peft, trl, bitsandbytes) must be
installed; without it the command says how to install it and exits with 2.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from cli.env_help import WORKER_VARIABLES, environment_epilog
from core.config import load_settings

TRAIN_MODULES = ("torch", "transformers", "peft", "trl", "datasets", "accelerate")
TORCH_INSTALL = "pip install torch==2.13.0"
"""The one torch install line, for CPU and CUDA alike (README.md, worker/README.md,
Dockerfile and scripts/test.sh use the same; tests/test_deploy_files.py checks)."""
INSTALL_HINT = (
    f"The worker needs the [train] extra: {TORCH_INSTALL}, then pip install 'tunebot[train]'. "
    "The same line serves CPU and CUDA machines: PyPI's Linux torch is the CUDA build, "
    "which also runs on CPU."
)


def register(app: typer.Typer) -> None:
    """Add ``worker`` to the ``tunebot`` command."""
    app.command("worker", epilog=environment_epilog(WORKER_VARIABLES))(worker_command)


def upgrade_store(data_dir: Path) -> None:
    """``--upgrade-db``: needs no torch, so it runs before the [train] check."""
    from core.store.schema import SchemaOutOfDate
    from worker.store import WORKER_SCHEMA, store_engine

    if not data_dir.is_dir():
        typer.echo(f"Error: --data-dir {data_dir} does not exist; nothing to upgrade.", err=True)
        raise typer.Exit(2)
    engine = store_engine(data_dir)
    try:
        before, after = WORKER_SCHEMA.upgrade(engine)
    except SchemaOutOfDate as exc:
        typer.echo(f"Error: {exc.user_message()}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"Worker store schema is current (revision {after}).")
    else:
        typer.echo(f"Worker store schema upgraded: {before or 'empty'} -> {after}.")


def missing_train_modules() -> list[str]:
    """Modules of the ``[train]`` extra that are not importable (checked without importing)."""
    return [name for name in TRAIN_MODULES if importlib.util.find_spec(name) is None]


def worker_command(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="NAME=PATH_OR_HUB_ID of a base model to serve and fine-tune; repeat for more.",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Files, jobs, adapters and the worker's SQLite DB.")
    ] = Path("worker-data"),
    insecure_no_auth: Annotated[
        bool,
        typer.Option("--insecure-no-auth", help="Accept requests without a key (local use only)."),
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    upgrade_db: Annotated[
        bool,
        typer.Option(
            "--upgrade-db",
            help="Migrate the store in --data-dir to this version's schema, then exit.",
        ),
    ] = False,
) -> None:
    """Serve the QLoRA worker: OpenAI-shaped files, fine-tuning jobs, models and chat."""
    if upgrade_db:
        upgrade_store(data_dir)
        return
    missing = missing_train_modules()
    if missing:
        typer.echo(f"Missing: {', '.join(missing)}. {INSTALL_HINT}", err=True)
        raise typer.Exit(2)
    from worker.app import serve
    from worker.settings import build_config, parse_model_specs

    # A ConfigError (bad setting, bad --model) reaches cli.main: one message, exit 2.
    config = build_config(
        load_settings(),
        data_dir=data_dir,
        models=parse_model_specs(model or []),
        insecure_no_auth=insecure_no_auth,
    )
    if insecure_no_auth:
        typer.echo("Warning: --insecure-no-auth: anyone reaching the port can use it.", err=True)
    _require_current_store(config.data_dir)
    serve(config, host=host, port=port, log_level=log_level)


def _require_current_store(data_dir: Path) -> None:
    """Refuse an old store before uvicorn starts, with the command that fixes it."""
    from core.store.schema import SchemaOutOfDate
    from worker.store import WORKER_SCHEMA, store_engine

    data_dir.mkdir(parents=True, exist_ok=True)
    engine = store_engine(data_dir)
    try:
        WORKER_SCHEMA.require_current(engine)
    except SchemaOutOfDate as exc:
        typer.echo(f"Error: {exc.user_message()}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
