"""The contract between the API process and a training subprocess.

Why a file: each job trains in its own process (``python -m worker.train
SPEC.json``) so a crash, an out-of-memory kill or a cancel never takes the API
down. The runner writes this spec; the trainer reads it, writes progress lines
to ``progress_path`` and its outcome to ``result_path``. Keeping the type here,
free of torch imports, lets the API side use it without loading ML libraries.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.training.config import TrainingParams


@dataclass(frozen=True)
class JobSpec:
    """Everything a training subprocess needs; paths are absolute."""

    job_id: str
    base_model: str
    """Local folder or Hugging Face id handed to ``from_pretrained``."""
    training_file: Path
    output_dir: Path
    """Job folder: checkpoints/, adapter/, progress.jsonl, result.json live here."""
    params: TrainingParams = field(default_factory=TrainingParams)
    validation_file: Path | None = None
    resume_from: Path | None = None
    """A checkpoint folder to continue from (worker restart recovery)."""
    device: str = "auto"
    """"auto", "cuda" or "cpu"."""
    method: str = "supervised"
    """OpenAI's ``method.type``: "supervised" (SFT) or "dpo" (preference pairs)."""
    init_adapter: Path | None = None
    """The adapter of the ``ft:`` model this job continues; None trains a new one on the base."""

    @property
    def progress_path(self) -> Path:
        return self.output_dir / "progress.jsonl"

    @property
    def result_path(self) -> Path:
        return self.output_dir / "result.json"

    @property
    def checkpoints_dir(self) -> Path:
        return self.output_dir / "checkpoints"

    @property
    def adapter_dir(self) -> Path:
        return self.output_dir / "adapter"

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["params"] = self.params.to_dict()
        return json.dumps(data, default=str, indent=2)

    def write(self, path: Path) -> Path:
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> JobSpec:
        """Load a spec written by :meth:`write`.

        Raises:
            TrainingError: the params in the file are invalid.
            KeyError / ValueError: the file is not a spec (a bug, not user input).
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        params = TrainingParams(**data.pop("params"))
        optional = {"validation_file", "resume_from", "init_adapter"}
        paths = {"training_file", "output_dir", *optional}
        for key in paths:
            if data.get(key) is not None:
                data[key] = Path(data[key])
        return cls(params=params, **data)


def latest_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The checkpoint with the highest step that finished saving, or None.

    A checkpoint counts only once ``trainer_state.json`` exists, which the HF
    Trainer writes last, so a folder half-written by a killed process is skipped.
    """
    if not checkpoints_dir.is_dir():
        return None
    done = [
        p
        for p in checkpoints_dir.glob("checkpoint-*")
        if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def read_new_lines(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Complete lines after byte ``offset``, and the offset after the last one.

    A partial last line (the writer is mid-write) is left for the next call.
    """
    if not path.is_file():
        return [], offset
    with path.open("rb") as handle:
        handle.seek(offset)
        chunk = handle.read()
    end = chunk.rfind(b"\n")
    if end < 0:
        return [], offset
    records = []
    for raw in chunk[: end + 1].splitlines():
        try:
            records.append(json.loads(raw))
        except json.JSONDecodeError:
            continue  # a torn line from a killed writer; nothing to recover
    return records, offset + end + 1
