"""Whatever the validator calls ready for a worker model, the worker's loader reads.

Every dataset under tests/fixtures, examples/ and the reliability corpus's
committed files goes through the worker's own gate (``check_training_file``,
core's validator for the worker's model) and, when it passes, through the
trainer's loader (``load_examples``). Files that are not JSONL reach the worker
the way the README says: ``tunebot validate --fix`` first, then upload.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import Settings
from core.validation import validate_file
from tests.worker.harness import WorkerProcess
from worker.dataset import check_training_file, load_examples

ROOT = Path(__file__).resolve().parents[2]
DATASETS = sorted(
    path
    for folder in (ROOT / "tests" / "fixtures", ROOT / "examples")
    for path in folder.rglob("*")
    if path.suffix in {".jsonl", ".json", ".csv", ".tsv", ".xlsx"}
)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a template that renders tools: support_chat.jsonl uses them."""
    from worker.tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny-tools") / "model", tools=True)


def _worker_ready(path: Path, model: Path) -> bool:
    return check_training_file(path, base_model=str(model)) is None


@pytest.mark.parametrize("path", DATASETS, ids=lambda p: str(p.relative_to(ROOT)))
def test_ready_fixture_loads_in_the_worker(
    path: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed.jsonl"
    report = validate_file(path, model=str(tiny_model_dir), settings=Settings(), fix_path=fixed)
    candidates = [fixed] if report.fixed_examples else []
    if path.suffix == ".jsonl":
        candidates.append(path)
    for candidate in candidates:
        if _worker_ready(candidate, tiny_model_dir):
            rows = load_examples(candidate, base_model=str(tiny_model_dir))
            expected = validate_file(candidate, model=str(tiny_model_dir), settings=Settings())
            assert len(rows) == expected.examples, candidate


def test_the_corpus_holds_ready_files(tiny_model_dir: Path) -> None:
    """The test above must not pass by finding nothing ready."""
    ready = [p for p in DATASETS if p.suffix == ".jsonl" and _worker_ready(p, tiny_model_dir)]
    assert {"bom.jsonl", "support_chat.jsonl"} <= {p.name for p in ready}


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("bom", b"\xef\xbb\xbf"),
        ("u2028", "\u2028".encode()),
    ],
)
def test_bom_and_unicode_line_separators_load(
    name: str, raw: bytes, tiny_model_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question {i}?{raw.decode()}More"},
                {"role": "assistant", "content": f"Answer {i}."},
            ]
        }
        for i in range(12)
    ]
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    path.write_bytes(raw + body if name == "bom" else body)
    assert _worker_ready(path, tiny_model_dir)
    assert len(load_examples(path, base_model=str(tiny_model_dir))) == 12


def test_example_ending_with_a_user_turn_is_refused_before_training(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    turn = {"role": "user", "content": "And then?"}
    rows = [
        {"messages": [{"role": "user", "content": f"Q{i}?"}, {"role": "assistant", "content": "A"}]}
        for i in range(12)
    ]
    rows[5]["messages"].append(turn)
    path = tmp_path / "ends_with_user.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    problem = check_training_file(path, base_model=str(tiny_model_dir))
    assert problem and "last_message_not_assistant (line 6)" in problem


def test_upload_whose_first_line_holds_a_line_separator_is_accepted(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    """The upload check read line 1 with str.splitlines(), cut it at U+2028, and refused
    a file the validator calls ready."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Q{i}\u2028?"},
                {"role": "assistant", "content": "A"},
            ]
        }
        for i in range(12)
    ]
    path = tmp_path / "sep.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    uploaded = worker.client().files.create(file=path, purpose="fine-tune")
    assert uploaded.bytes == path.stat().st_size
