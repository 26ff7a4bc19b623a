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


def test_the_bot_counts_for_the_workers_default_model(
    worker: WorkerProcess, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from unittest.mock import Mock

    from bot.flows.drop import counting_model
    from core.datasets.intake import Origin, take_in
    from tests.bot.harness import unit_context

    ctx = unit_context(
        tmp_path,
        client=Mock(),
        providers={"worker": Mock(), "openai": Mock()},
        TUNEBOT_WORKER_URL=worker.base_url,
        TUNEBOT_WORKER_API_KEY=API_KEY,
    )
    assert counting_model(ctx) == str(tiny_model_dir)  # not gpt-4o-mini
    data = tmp_path / "faq.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "Hi?"},
                        {"role": "assistant", "content": "Hello."},
                    ]
                }
            )
            + "\n"
            for _ in range(12)
        )
    )
    origin = Origin(
        source_id="F1", file_name="faq.jsonl", uploader_id="U1", channel_id="C1", thread_ts="1.0"
    )

    def fetch(dest: Path) -> int:
        dest.write_bytes(data.read_bytes())
        return dest.stat().st_size

    intake = take_in(
        ctx.engine, settings=ctx.settings, origin=origin, fetch=fetch, model=counting_model(ctx)
    )
    assert intake.report.model == str(tiny_model_dir) and not intake.report.tokens.estimated
    # OpenAI first: the team trains on OpenAI, so the default model counts.
    other = tmp_path / "openai-first"
    other.mkdir()
    openai_first = unit_context(
        other,
        client=Mock(),
        providers={"openai": Mock(), "worker": Mock()},
        TUNEBOT_WORKER_URL=worker.base_url,
    )
    assert counting_model(openai_first) is None
