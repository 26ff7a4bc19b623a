"""Fast unit tests of the worker's pure parts (no server, no training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.training.config import TrainingParams
from worker.job_spec import JobSpec, latest_checkpoint, read_new_lines
from worker.model_ids import split_checkpoint
from worker.records import EventRecord
from worker.results import base_model_name, fine_tuned_model_name, job_id_from_model, metrics_csv
from worker.settings import parse_model_specs


def test_job_spec_round_trips(tmp_path: Path) -> None:
    spec = JobSpec(
        job_id="ftjob-1",
        base_model="org/model",
        training_file=tmp_path / "t.jsonl",
        output_dir=tmp_path / "job",
        params=TrainingParams(n_epochs=2, load_in_4bit=True),
        resume_from=tmp_path / "job" / "checkpoints" / "checkpoint-4",
    )
    assert JobSpec.read(spec.write(tmp_path / "spec.json")) == spec
    dpo = JobSpec(
        job_id="ftjob-2",
        base_model="org/model",
        training_file=tmp_path / "pairs.jsonl",
        output_dir=tmp_path / "job2",
        params=TrainingParams(beta=0.2, sft_weight=0),
        method="dpo",
        init_adapter=tmp_path / "job" / "adapter",
    )
    assert JobSpec.read(dpo.write(tmp_path / "spec2.json")) == dpo


def test_latest_checkpoint_skips_half_written(tmp_path: Path) -> None:
    for step, complete in ((5, True), (10, True), (15, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-10"
    assert latest_checkpoint(tmp_path / "missing") is None


def test_read_new_lines_leaves_a_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    path.write_text('{"a": 1}\n{"b": 2}\n{"c":')
    records, offset = read_new_lines(path, 0)
    assert records == [{"a": 1}, {"b": 2}]
    with path.open("a") as handle:
        handle.write(" 3}\n")
    assert read_new_lines(path, offset) == ([{"c": 3}], path.stat().st_size)


def test_fine_tuned_model_names_round_trip() -> None:
    name = fine_tuned_model_name(model="tiny", suffix="qa", job_id="ftjob-abc")
    assert name == "ft:tiny:qa:abc" and job_id_from_model(name) == "ftjob-abc"
    assert job_id_from_model(fine_tuned_model_name(model="org/m", suffix=None, job_id="ftjob-x"))
    assert job_id_from_model("tiny") is None
    # A job continuing an ft: model is named after the same base; names never nest.
    assert base_model_name("ft:org/m:v2:abc") == "org/m" and base_model_name("tiny") == "tiny"
    assert base_model_name("ft:a:b::abc") == "a:b"
    assert split_checkpoint("ft:tiny:qa:abc:ckpt-step-12") == ("ft:tiny:qa:abc", 12)
    assert split_checkpoint("ft:tiny:qa:abc") == ("ft:tiny:qa:abc", None)
    assert split_checkpoint("ft:tiny:qa:abc:ckpt-step-x")[1] is None


def test_metrics_csv_keeps_the_resumed_values() -> None:
    def event(data: dict[str, object]) -> EventRecord:
        return EventRecord(id="e", job_id="j", created_at=0, message="", data_json=json.dumps(data))

    rows = [
        event({"step": 1, "train_loss": 3.0, "train_mean_token_accuracy": 0.1}),
        event({"step": 2, "train_loss": 2.5, "train_mean_token_accuracy": 0.2}),
        event({"step": 2, "train_loss": 2.0, "train_mean_token_accuracy": 0.3}),  # after resume
        event({"step": 2, "valid_loss": 2.2, "valid_mean_token_accuracy": 0.25}),
    ]
    lines = metrics_csv(rows).decode().splitlines()
    header = "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert lines[0].startswith(header)
    assert lines[1].startswith("1,3.0,0.1,,") and lines[2].startswith("2,2.0,0.3,2.2,0.25")


@pytest.mark.parametrize(
    "specs",
    [["tiny"], ["=path"], ["a:b=path"], ["x=1", "x=2"], ["bad name=p"]],
)
def test_model_specs_are_checked(specs: list[str]) -> None:
    with pytest.raises(ConfigError):
        parse_model_specs(specs)


def test_model_specs_parse() -> None:
    assert parse_model_specs(["tiny=./m", "qwen=Qwen/Qwen2.5-0.5B"]) == {
        "tiny": "./m",
        "qwen": "Qwen/Qwen2.5-0.5B",
    }
