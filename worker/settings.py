"""The worker's configuration: core ``Settings`` plus what the command line gives.

Why a separate object: the served models and data dir come from ``tunebot
worker`` options, the key and limits from ``core.config.Settings`` (one place
for environment variables). The app receives one validated ``WorkerConfig``.

Settings read: ``TUNEBOT_WORKER_API_KEY`` (required unless ``--insecure-no-auth``),
``TUNEBOT_MAX_FILE_BYTES`` (upload cap), ``TUNEBOT_WORKER_CANCEL_GRACE`` and
``TUNEBOT_WORKER_LOADED_MODELS``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from core.config import Settings
from core.errors import ConfigError

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
"""Served names: no ':' (it separates the parts of ``ft:`` ids), no spaces."""


@dataclass(frozen=True)
class WorkerConfig:
    data_dir: Path
    models: dict[str, str]
    """Served name -> absolute local folder or Hugging Face id (see ``check_models``)."""
    api_key: str | None
    """None only when auth was explicitly turned off for local use."""
    max_upload_bytes: int = 512 * 1024 * 1024
    cancel_grace_seconds: float = 30.0
    loaded_models: int = 2
    device: str = "auto"
    max_attempts: int = 3
    """Launches of one job (first run + restarts) before it is failed."""
    python: str | None = None
    """Interpreter for training subprocesses (default: this one)."""
    extra_env: dict[str, str] = field(default_factory=dict)
    launcher: str = "local"
    """How training processes start: "local" (subprocess) or "ray" (Ray Jobs)."""
    ray_address: str | None = None
    """The Ray head's Jobs API, ``http://HEAD:8265`` (None: RAY_ADDRESS or a local cluster)."""
    ray_cpus_per_job: float = 1.0
    """CPUs Ray reserves for each job's trainer (how many jobs a CPU cluster overlaps)."""
    max_concurrent_jobs: int | None = None
    """Jobs training at once; None: 1 for local, what the cluster can place for ray."""
    storage: str | None = None
    """fsspec URI of shared storage (None: the data dir)."""
    max_storage_bytes: int | None = None
    """Quota for uploaded files (None: no quota)."""
    serve_backend: str = "hf"
    """``hf`` (transformers, CPU or GPU) or ``vllm`` (GPU, multi-LoRA)."""
    max_batch_size: int = 8
    """Chat requests for one model decoded together (1: one at a time)."""
    max_chat_bytes: int = 8 * 1024 * 1024
    """Largest chat request body; bigger ones get 413 before they are read."""
    docs: bool = False
    """Serve ``/docs`` and ``/openapi.json`` without the key."""
    started_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def remote_storage(self) -> bool:
        """Object storage (``s3://``): trainers and the API sync through it."""
        return bool(self.storage) and "://" in str(self.storage)

    @property
    def storage_uri(self) -> str:
        return str(self.storage) if self.remote_storage else self.storage_root.as_uri()

    @property
    def storage_root(self) -> Path:
        """The folder of uploads, checkpoints, adapters and result files.

        With a folder (the default data dir, or a mount every Ray node shares)
        trainers read and write it directly. With object storage it is this
        API's local copy (see :mod:`worker.storage`).
        """
        if self.storage and not self.remote_storage:
            return Path(self.storage)
        return self.data_dir

    @property
    def files_dir(self) -> Path:
        return self.storage_root / "files"

    @property
    def jobs_dir(self) -> Path:
        return self.storage_root / "jobs"


def storage_setting(uri: str) -> str:
    """A ``--storage`` value as an absolute folder path or an object-storage URI.

    Raises:
        ConfigError: an unknown scheme, or its fsspec driver is not installed.
    """
    parsed = urlsplit(uri)
    if parsed.scheme in ("", "file"):
        return str(Path(parsed.path if parsed.scheme else uri).expanduser().resolve())
    drivers = {"s3": "s3fs", "gs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}
    driver = drivers.get(parsed.scheme)
    if driver is None or not parsed.netloc:
        raise ConfigError(
            f"--storage {uri!r} is not a folder or a supported object-storage URI.",
            hint="Use a folder every node mounts (file:///mnt/tunebot) or s3://BUCKET/PREFIX.",
        )
    if importlib.util.find_spec(driver) is None:
        raise ConfigError(
            f"--storage {parsed.scheme}:// needs {driver}.",
            hint=f"Install it: pip install {driver} (s3fs comes with 'tunebot[ray]').",
        )
    return uri.rstrip("/")


def parse_model_specs(specs: Iterable[str]) -> dict[str, str]:
    """``["NAME=PATH_OR_HUB_ID", ...]`` -> ``{name: path}``.

    Raises:
        ConfigError: a spec is malformed, a name is invalid or repeated.
    """
    models: dict[str, str] = {}
    for spec in specs:
        name, sep, target = spec.partition("=")
        name, target = name.strip(), target.strip()
        if not sep or not target:
            raise ConfigError(
                f"--model {spec!r} is not NAME=PATH_OR_HUB_ID.",
                hint="Example: --model tiny=./tiny-model or --model qwen=Qwen/Qwen2.5-0.5B",
            )
        if not MODEL_NAME.match(name):
            raise ConfigError(
                f"Model name {name!r} is not allowed.",
                hint="Use letters, digits, '.', '_', '-' or '/', no ':' (max 128).",
            )
        if name in models:
            raise ConfigError(f"Model name {name!r} is given twice.")
        models[name] = target
    return models


def build_config(
    settings: Settings,
    *,
    data_dir: Path,
    models: dict[str, str],
    insecure_no_auth: bool = False,
    serve_backend: str = "hf",
    max_batch_size: int = 8,
    max_chat_bytes: int = 8 * 1024 * 1024,
    docs: bool = False,
) -> WorkerConfig:
    """Combine settings and command-line values; refuse to run without a key.

    Raises:
        ConfigError: no API key and auth was not explicitly disabled, no models,
            or a model without a loadable config and tokenizer (see ``check_models``),
            or a serving option out of range.
    """
    key = settings.worker_api_key.get_secret_value() if settings.worker_api_key else None
    if not key and not insecure_no_auth:
        raise ConfigError(
            "TUNEBOT_WORKER_API_KEY is not set, so the worker would accept anyone.",
            hint="Set it (the bot uses the same value), or pass --insecure-no-auth for local use.",
        )
    if not models:
        raise ConfigError(
            "No models to serve.", hint="Pass --model NAME=PATH_OR_HUB_ID at least once."
        )
    if serve_backend not in ("hf", "vllm"):
        raise ConfigError(
            f"--serve-backend {serve_backend!r} is not a backend.", hint="Use hf or vllm."
        )
    if not 1 <= max_batch_size <= 256:
        raise ConfigError(
            f"--max-batch-size {max_batch_size} is out of range.", hint="Use 1 to 256."
        )
    if max_chat_bytes < 1024:
        raise ConfigError(
            f"--max-chat-bytes {max_chat_bytes} is too small for any chat request.",
            hint="Use at least 1024 (the default is 8 MiB).",
        )
    return WorkerConfig(
        data_dir=data_dir.resolve(),
        models=check_models(models),
        api_key=None if insecure_no_auth else key,
        max_upload_bytes=settings.max_file_bytes,
        cancel_grace_seconds=settings.worker_cancel_grace_seconds,
        loaded_models=settings.worker_loaded_models,
        serve_backend=serve_backend,
        max_batch_size=max_batch_size,
        max_chat_bytes=max_chat_bytes,
        docs=docs,
    )


def with_scaling(
    config: WorkerConfig,
    *,
    launcher: str,
    ray_address: str | None,
    ray_cpus_per_job: float = 1.0,
    max_concurrent_jobs: int | None,
    storage: str | None,
    max_storage_gb: float | None,
) -> WorkerConfig:
    """``config`` with the launcher, concurrency, storage and quota options applied.

    Raises:
        ConfigError: an unknown launcher, Ray not installed, or a bad quota.
    """
    launcher = launcher.strip().lower()
    if launcher not in ("local", "ray"):
        raise ConfigError(
            f"Unknown launcher {launcher!r}.",
            hint="Use --launcher local (default) or --launcher ray (TUNEBOT_WORKER_LAUNCHER).",
        )
    if launcher == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError(
            "--launcher ray needs Ray.", hint="Install it with: pip install 'tunebot[ray]'"
        )
    quota = None
    if max_storage_gb is not None:
        if not math.isfinite(max_storage_gb) or max_storage_gb <= 0:
            raise ConfigError(
                f"TUNEBOT_WORKER_MAX_STORAGE_GB={max_storage_gb} is not a positive number.",
                hint="Give the quota in GB, e.g. 50, or leave it unset for none.",
            )
        quota = int(max_storage_gb * 1024**3)
    return dataclasses.replace(
        config,
        launcher=launcher,
        ray_address=ray_address or None,
        ray_cpus_per_job=ray_cpus_per_job,
        max_concurrent_jobs=max_concurrent_jobs,
        storage=storage_setting(storage) if storage else None,
        max_storage_bytes=quota,
    )


def check_models(models: dict[str, str]) -> dict[str, str]:
    """Resolve local model folders to absolute paths and check each model loads.

    Why at startup: training runs in the job's own folder, so ``./tiny`` there
    names nothing (Hugging Face then reads it as a malformed repo id), and a
    missing or broken model used to fail only when a job ran. A target that
    exists on disk, or is written as a path (``./``, ``../``, ``/``, ``~``), is
    a local folder; anything else is a Hugging Face id, whose config and
    tokenizer are fetched into (or read from) the Hugging Face cache now.

    Raises:
        ConfigError: naming the model, when its folder is missing or its config
            or tokenizer cannot be loaded.
    """
    checked: dict[str, str] = {}
    for name, target in models.items():
        path = Path(target).expanduser()
        if path.exists() or _written_as_path(target):
            where = path.resolve()
            if not where.is_dir():
                problem = "is not a folder" if where.exists() else "does not exist"
                raise ConfigError(
                    f"Model {name!r}: {target} ({where}) {problem}.",
                    hint="Give the folder holding config.json and the tokenizer files, "
                    "e.g. one written by `python -m worker.tiny_model ./tiny`.",
                )
            target = str(where)
        _check_loadable(name, target)
        checked[name] = target
    return checked


def _written_as_path(target: str) -> bool:
    return (
        target.startswith(("./", "../", "/", "~"))
        or target in (".", "..")
        or (os.sep != "/" and os.sep in target)
    )


def _check_loadable(name: str, target: str) -> None:
    from transformers import AutoConfig, AutoTokenizer

    for part, loader in (("config", AutoConfig), ("tokenizer", AutoTokenizer)):
        try:
            loader.from_pretrained(target)
        # Any failure (OSError, ValueError, a tokenizer class missing...) means
        # the worker could not serve or train this model: say so now, by name.
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"Model {name!r}: cannot load its {part} from {target} ({reason[:300]}).",
                hint="Point --model at a folder with config.json and tokenizer files, "
                "or at a Hugging Face id reachable from here (or already in its cache).",
            ) from None
