"""``tunebot worker``: serve the QLoRA worker's OpenAI-compatible API;
``tunebot worker export``: write a fine-tuned model out of its data dir.

Example::

    python -m worker.tiny_model ./tiny            # an offline smoke-test model
    export TUNEBOT_WORKER_API_KEY=$(openssl rand -hex 24)
    tunebot worker --data-dir ./worker-data --model tiny=./tiny
    tunebot worker export ft:tiny:qa:abc123 ./qa-merged --merge --data-dir ./worker-data

The ``[train]`` extra (torch, transformers, peft, trl, bitsandbytes) must be
installed; without it the command says how to install it and exits with 2.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from core.config import load_settings
from core.errors import ConfigError

TRAIN_MODULES = ("torch", "transformers", "peft", "trl", "datasets", "accelerate")
INSTALL_HINT = (
    "The worker needs the [train] extra. On a CUDA machine: pip install 'tunebot[train]'. "
    "CPU only: pip install torch --index-url https://download.pytorch.org/whl/cpu, "
    "then pip install 'tunebot[train]'."
)


worker_app = typer.Typer(help="Serve the QLoRA worker, or export its fine-tuned models.")
DEFAULT_DATA_DIR = Path("worker-data")


def register(app: typer.Typer) -> None:
    """Add ``worker`` (and ``worker export``) to the ``tunebot`` command."""
    app.add_typer(worker_app, name="worker")


def missing_train_modules() -> list[str]:
    """Modules of the ``[train]`` extra that are not importable (checked without importing)."""
    return [name for name in TRAIN_MODULES if importlib.util.find_spec(name) is None]


@worker_app.callback(invoke_without_command=True)
def worker_command(
    ctx: typer.Context,
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
    ] = DEFAULT_DATA_DIR,
    insecure_no_auth: Annotated[
        bool,
        typer.Option("--insecure-no-auth", help="Accept requests without a key (local use only)."),
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the QLoRA worker: OpenAI-shaped files, fine-tuning jobs, models and chat."""
    if ctx.invoked_subcommand is not None:
        return
    if not model:
        typer.echo("Error: give at least one --model NAME=PATH_OR_HUB_ID to serve.", err=True)
        raise typer.Exit(2)
    _require_train_modules()
    from worker.app import serve
    from worker.settings import build_config, parse_model_specs

    try:
        config = build_config(
            load_settings(),
            data_dir=data_dir,
            models=parse_model_specs(model),
            insecure_no_auth=insecure_no_auth,
        )
    except ConfigError as exc:
        typer.echo(f"Error: {exc.user_message()}", err=True)
        raise typer.Exit(2) from exc
    if insecure_no_auth:
        typer.echo("Warning: --insecure-no-auth: anyone reaching the port can use it.", err=True)
    serve(config, host=host, port=port, log_level=log_level)


@worker_app.command("export")
def export_command(
    model_id: Annotated[
        str, typer.Argument(help="An ft: model or checkpoint id, as GET /v1/models lists it.")
    ],
    out_dir: Annotated[Path, typer.Argument(help="A new or empty folder to write.")],
    merge: Annotated[
        bool,
        typer.Option(
            "--merge", help="Merge the adapter into its base: a plain transformers/vLLM model."
        ),
    ] = False,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="The data dir the worker runs with.")
    ] = DEFAULT_DATA_DIR,
) -> None:
    """Write a fine-tuned model's PEFT adapter, or with --merge a merged model."""
    _require_train_modules()
    from core.errors import TunebotError
    from worker.export import export_model

    try:
        done = export_model(data_dir.resolve(), model_id, out_dir, merge=merge)
    except TunebotError as exc:
        typer.echo(f"Error: {exc.user_message()}", err=True)
        raise typer.Exit(2) from exc
    what = "merged model" if done.merged else "PEFT adapter"
    typer.echo(f"Wrote the {what} of {model_id} (base {done.base_model}) to {done.out_dir}.")
    if done.merged and done.trained_in_4bit:
        typer.echo(
            "Note: it was trained on a 4-bit base and is merged into full-precision weights; "
            "answers can differ slightly from the worker's 4-bit serving."
        )


def _require_train_modules() -> None:
    missing = missing_train_modules()
    if missing:
        typer.echo(f"Missing: {', '.join(missing)}. {INSTALL_HINT}", err=True)
        raise typer.Exit(2)
