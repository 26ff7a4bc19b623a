"""``tunebot validate --model NAME`` with a worker's model name: the real CLI process
asks the real worker (tiny model) which folder ``NAME`` is, and counts with its tokenizer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.worker.harness import API_KEY, WorkerProcess

ROOT = Path(__file__).resolve().parents[2]


def _validate(data: Path, model: str, worker: WorkerProcess) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TUNEBOT_WORKER_URL": worker.base_url,
        "TUNEBOT_WORKER_API_KEY": API_KEY,
    }
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "validate", str(data), "--model", model, "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_worker_model_name_counts_with_that_models_tokenizer(
    worker: WorkerProcess, tiny_model_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "chat.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question {i}?"},
                {"role": "assistant", "content": f"Answer {i}."},
            ]
        }
        for i in range(12)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    by_name = _validate(data, "tiny", worker)
    assert by_name.returncode in (0, 1), by_name.stderr
    by_folder = _validate(data, str(tiny_model_dir), worker)
    named, folder = json.loads(by_name.stdout), json.loads(by_folder.stdout)
    assert named["model"] == str(tiny_model_dir)
    assert not named["tokens"]["estimated"]  # the tokenizer itself, not an estimate
    assert named["tokens"] == folder["tokens"] and named["encoding"] == folder["encoding"]
    unknown = _validate(data, "no-such-model", worker)
    assert unknown.returncode == 2
    assert "serves no base model 'no-such-model'" in unknown.stderr and "tiny" in unknown.stderr
