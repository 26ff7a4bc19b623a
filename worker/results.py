"""What a job leaves behind: its metrics CSV and its ``ft:`` model name.

Why OpenAI's columns: people (and the bot's loss-curve plot) read the result
file the same way whichever provider trained the model.
"""

from __future__ import annotations

import csv
import io
import json

from worker.records import EventRecord

CSV_COLUMNS = (
    "step",
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "learning_rate",
    "tokens_per_second",
)


def fine_tuned_model_name(*, model: str, suffix: str | None, job_id: str) -> str:
    """``ft:<base>:<suffix>:<job>`` as the issue specifies (suffix may be empty)."""
    return f"ft:{model}:{suffix or ''}:{job_id.removeprefix('ftjob-')}"


def base_model_name(model: str) -> str:
    """The served base name behind ``model``: itself, or the ``<base>`` of an ``ft:`` name.

    A job that continues an ``ft:`` model is named after the same base, as OpenAI
    names it, so names never nest (suffixes and job ids hold no colons).
    """
    if job_id_from_model(model) is None:
        return model
    return ":".join(model.split(":")[1:-2])


def job_id_from_model(name: str) -> str | None:
    """The job id inside an ``ft:`` name, or None when ``name`` is not one."""
    parts = name.split(":")
    if len(parts) < 4 or parts[0] != "ft" or not parts[-1]:
        return None
    return "ftjob-" + parts[-1]


def metrics_csv(events: list[EventRecord]) -> bytes:
    """One row per step from ``metrics`` events, oldest first.

    A resumed job repeats the steps after its last checkpoint; the later run's
    values win, since those are the weights that were kept.
    """
    rows: dict[int, dict[str, object]] = {}
    for event in events:
        data = json.loads(event.data_json or "{}")
        step = data.get("step")
        if not isinstance(step, int):
            continue
        row = rows.setdefault(step, {"step": step})
        if "train_loss" in data:
            row["train_loss"] = data["train_loss"]
            row["train_accuracy"] = data.get("train_mean_token_accuracy")
            row["learning_rate"] = data.get("learning_rate")
            row["tokens_per_second"] = data.get("tokens_per_second")
        if "valid_loss" in data:
            row["valid_loss"] = data["valid_loss"]
            row["valid_mean_token_accuracy"] = data.get("valid_mean_token_accuracy")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for step in sorted(rows):
        writer.writerow({k: ("" if v is None else v) for k, v in rows[step].items()})
    return out.getvalue().encode("utf-8")
