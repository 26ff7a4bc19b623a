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

from core.config import load_settings
from core.logs import setup_logging

TRAIN_MODULES = ("torch", "transformers", "peft", "trl", "datasets", "accelerate")
INSTALL_HINT = (
    "The worker needs the [train] extra. On a CUDA machine: pip install 'tunebot[train]'. "
    "CPU only: pip install torch --index-url https://download.pytorch.org/whl/cpu, "
    "then pip install 'tunebot[train]'."
)


def register(app: typer.Typer) -> None:
    """Add ``worker`` to the ``tunebot`` command."""
    app.command("worker")(worker_command)


def missing_train_modules() -> list[str]:
    """Modules of the ``[train]`` extra that are not importable (checked without importing)."""
    return [name for name in TRAIN_MODULES if importlib.util.find_spec(name) is None]


def worker_command(
    model: Annotated[
        list[str],
        typer.Option(
            "--model",
            "-m",
            help="NAME=PATH_OR_HUB_ID of a base model to serve and fine-tune; repeat for more.",
        ),
    ],
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
) -> None:
    """Serve the QLoRA worker: OpenAI-shaped files, fine-tuning jobs, models and chat."""
    missing = missing_train_modules()
    if missing:
        typer.echo(f"Missing: {', '.join(missing)}. {INSTALL_HINT}", err=True)
        raise typer.Exit(2)
    from worker.app import serve
    from worker.settings import build_config, parse_model_specs

    # A ConfigError (bad setting, bad --model) reaches cli.main: one message, exit 2.
    settings = load_settings()
    setup_logging(settings)
    config = build_config(
        settings,
        data_dir=data_dir,
        models=parse_model_specs(model),
        insecure_no_auth=insecure_no_auth,
    )
    if insecure_no_auth:
        typer.echo("Warning: --insecure-no-auth: anyone reaching the port can use it.", err=True)
    serve(config, host=host, port=port, log_level=log_level)
