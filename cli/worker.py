"""``tunebot worker``: serve the QLoRA worker's OpenAI-compatible API;
``tunebot worker export``: write a fine-tuned model out of its data dir.

Example::

    python -m worker.tiny_model ./tiny            # an offline smoke-test model
    export TUNEBOT_WORKER_API_KEY=$(openssl rand -hex 24)
    tunebot worker --data-dir ./worker-data --model tiny=./tiny
    tunebot worker export ft:tiny:qa:abc123 ./qa-merged --merge --data-dir ./worker-data

The ``[train]`` extra (torch, transformers, peft, trl, bitsandbytes) must be
installed; without it the command says how to install it and exits with 2.

Serving options (flag or environment): ``--serve-backend hf|vllm``
(``TUNEBOT_WORKER_SERVE_BACKEND``; ``vllm`` needs the ``[vllm]`` extra and a
CUDA GPU, and the worker refuses to start without them), ``--max-batch-size``
(``TUNEBOT_WORKER_MAX_BATCH_SIZE``), ``--max-chat-bytes``
(``TUNEBOT_WORKER_MAX_CHAT_BYTES``) and ``--docs`` (``TUNEBOT_WORKER_DOCS``).

Training options: ``--launcher local|ray`` (``TUNEBOT_WORKER_LAUNCHER``),
``--ray-address`` (``RAY_ADDRESS``), ``--ray-cpus-per-job``,
``--max-concurrent-jobs``, ``--storage`` (``TUNEBOT_WORKER_STORAGE``: a shared
folder or ``s3://`` URI) and ``--max-storage-gb`` (``TUNEBOT_WORKER_MAX_STORAGE_GB``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from cli.env_help import WORKER_VARIABLES, environment_epilog
from core.config import load_settings
from core.logs import setup_logging

TRAIN_MODULES = ("torch", "transformers", "peft", "trl", "datasets", "accelerate")
TORCH_INSTALL = "pip install torch==2.13.0"
"""The one torch install line, for CPU and CUDA alike (README.md, worker/README.md,
Dockerfile and scripts/test.sh use the same; tests/test_deploy_files.py checks)."""
INSTALL_HINT = (
    f"The worker needs the [train] extra: {TORCH_INSTALL}, then pip install 'tunebot[train]'. "
    "The same line serves CPU and CUDA machines: PyPI's Linux torch is the CUDA build, "
    "which also runs on CPU."
)


worker_app = typer.Typer(help="Serve the QLoRA worker, or export its fine-tuned models.")
DEFAULT_DATA_DIR = Path("worker-data")


def register(app: typer.Typer) -> None:
    """Add ``worker`` (and ``worker export``) to the ``tunebot`` command."""
    app.add_typer(worker_app, name="worker")


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


@worker_app.callback(invoke_without_command=True, epilog=environment_epilog(WORKER_VARIABLES))
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
    upgrade_db: Annotated[
        bool,
        typer.Option(
            "--upgrade-db",
            help="Migrate the store in --data-dir to this version's schema, then exit.",
        ),
    ] = False,
    serve_backend: Annotated[
        str,
        typer.Option(
            "--serve-backend",
            envvar="TUNEBOT_WORKER_SERVE_BACKEND",
            help="Chat engine: hf (transformers, CPU or GPU) or vllm (GPU, multi-LoRA; "
            "needs the [vllm] extra).",
        ),
    ] = "hf",
    max_batch_size: Annotated[
        int,
        typer.Option(
            "--max-batch-size",
            envvar="TUNEBOT_WORKER_MAX_BATCH_SIZE",
            help="Chat requests for one model decoded together (1: one at a time).",
        ),
    ] = 8,
    max_chat_bytes: Annotated[
        int,
        typer.Option(
            "--max-chat-bytes",
            envvar="TUNEBOT_WORKER_MAX_CHAT_BYTES",
            help="Largest chat request body; bigger ones get 413 before they are read.",
        ),
    ] = 8 * 1024 * 1024,
    docs: Annotated[
        bool,
        typer.Option(
            "--docs",
            envvar="TUNEBOT_WORKER_DOCS",
            help="Serve /docs and /openapi.json without the key (they need it by default).",
        ),
    ] = False,
) -> None:
    """Serve the QLoRA worker: OpenAI-shaped files, fine-tuning jobs, models and chat."""
    if ctx.invoked_subcommand is not None:
        return
    if upgrade_db:
        upgrade_store(data_dir)
        return
    if not model:
        typer.echo("Error: give at least one --model NAME=PATH_OR_HUB_ID to serve.", err=True)
        raise typer.Exit(2)
    _require_train_modules()
    from worker.app import serve
    from worker.settings import build_config, parse_model_specs, with_scaling

    # A ConfigError (bad setting, bad --model) reaches cli.main: one message, exit 2.
    settings = load_settings()
    setup_logging(settings)
    config = build_config(
        settings,
        data_dir=data_dir,
        models=parse_model_specs(model or []),
        insecure_no_auth=insecure_no_auth,
        serve_backend=serve_backend,
        max_batch_size=max_batch_size,
        max_chat_bytes=max_chat_bytes,
        docs=docs,
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
    if config.serve_backend == "vllm":
        from worker.inference.vllm_backend import unavailable_reason

        reason = unavailable_reason()
        if reason:
            typer.echo(f"Error: {reason}", err=True)
            raise typer.Exit(2)
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
