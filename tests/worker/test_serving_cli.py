"""``tunebot worker`` serving options, run as the real command with its environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.worker.harness import REPO


def _worker(
    tmp_path: Path, model_dir: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "TUNEBOT_WORKER_API_KEY": "k",
        **env,
        "PYTHONPATH": os.pathsep.join([env.get("PYTHONPATH", ""), str(REPO)]).lstrip(os.pathsep),
    }
    command = [sys.executable, "-m", "cli.main", "worker", "--model", f"tiny={model_dir}",
               "--data-dir", str(tmp_path / "data"), "--port", "1", *args]  # fmt: skip
    return subprocess.run(
        command, env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("how", ["flag", "env"])
def test_vllm_backend_without_vllm_or_cuda_refuses_to_start(
    tmp_path: Path, tiny_model_dir: Path, how: str
) -> None:
    if how == "flag":
        result = _worker(tmp_path, tiny_model_dir, "--serve-backend", "vllm")
    else:
        result = _worker(tmp_path, tiny_model_dir, TUNEBOT_WORKER_SERVE_BACKEND="vllm")
    assert result.returncode == 2, result.stderr
    assert "--serve-backend vllm cannot start" in result.stderr
    assert "vLLM is not installed (pip install 'tunebot[vllm]'" in result.stderr
    assert "no CUDA GPU is visible" in result.stderr
    assert "Use --serve-backend hf" in result.stderr and "Traceback" not in result.stderr


def test_vllm_backend_with_vllm_but_no_gpu_refuses_to_start(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    # An importable (empty) vllm package: the only thing missing is the GPU,
    # and the check must say exactly that without importing it.
    package = tmp_path / "site" / "vllm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    result = _worker(
        tmp_path, tiny_model_dir, "--serve-backend", "vllm", PYTHONPATH=str(tmp_path / "site")
    )
    assert result.returncode == 2, result.stderr
    assert "no CUDA GPU is visible" in result.stderr
    assert "not installed" not in result.stderr and "must not be imported" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--serve-backend", "tgi"), "--serve-backend 'tgi' is not a backend"),
        (("--max-batch-size", "0"), "--max-batch-size 0 is out of range"),
        (("--max-chat-bytes", "10"), "--max-chat-bytes 10 is too small"),
    ],
)
def test_bad_serving_options_exit_2_with_a_message(
    tmp_path: Path, tiny_model_dir: Path, args: tuple[str, ...], message: str
) -> None:
    result = _worker(tmp_path, tiny_model_dir, *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
