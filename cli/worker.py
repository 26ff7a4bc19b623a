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
from core.errors import ConfigError

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
    launcher: Annotated[
        str,
        typer.Option(
            "--launcher",
            envvar="TUNEBOT_WORKER_LAUNCHER",
            help="How training jobs start: local (a subprocess here) or ray (a Ray cluster).",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            envvar="RAY_ADDRESS",
            help="The Ray head's Jobs API, e.g. http://head:8265 (with --launcher ray).",
        ),
    ] = None,
    ray_cpus_per_job: Annotated[
        float,
        typer.Option("--ray-cpus-per-job", min=0.0, help="CPUs Ray reserves per training job."),
    ] = 1.0,
    max_concurrent_jobs: Annotated[
        int | None,
        typer.Option(
            "--max-concurrent-jobs",
            min=1,
            help="Jobs training at once (default: 1 locally, what the Ray cluster can place).",
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            envvar="TUNEBOT_WORKER_STORAGE",
            help="Shared storage for files, checkpoints and adapters: a path or file:// URI "
            "every training node mounts (default: the data dir).",
        ),
    ] = None,
    max_storage_gb: Annotated[
        float | None,
        typer.Option(
            "--max-storage-gb",
            envvar="TUNEBOT_WORKER_MAX_STORAGE_GB",
            help="Quota for uploaded files per API key, in GB (default: none).",
        ),
    ] = None,
) -> None:
    """Serve the QLoRA worker: OpenAI-shaped files, fine-tuning jobs, models and chat."""
    missing = missing_train_modules()
    if missing:
        typer.echo(f"Missing: {', '.join(missing)}. {INSTALL_HINT}", err=True)
        raise typer.Exit(2)
    from worker.app import serve
    from worker.settings import build_config, parse_model_specs, with_scaling

    try:
        config = build_config(
            load_settings(),
            data_dir=data_dir,
            models=parse_model_specs(model),
            insecure_no_auth=insecure_no_auth,
        )
        config = with_scaling(
            config,
            launcher=launcher,
            ray_address=ray_address,
            ray_cpus_per_job=ray_cpus_per_job,
            max_concurrent_jobs=max_concurrent_jobs,
            storage=storage,
            max_storage_gb=max_storage_gb,
        )
        if config.launcher == "ray":  # refuse now rather than fail inside the server
            from worker.launchers.ray import connect

            connect(config.ray_address)
    except ConfigError as exc:
        typer.echo(f"Error: {exc.user_message()}", err=True)
        raise typer.Exit(2) from exc
    if insecure_no_auth:
        typer.echo("Warning: --insecure-no-auth: anyone reaching the port can use it.", err=True)
    serve(config, host=host, port=port, log_level=log_level)
