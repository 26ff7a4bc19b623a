"""Job messages: started, status, lists."""

from __future__ import annotations

import json

from bot.blocks.jobs import (
    JobCard,
    build_job_started_blocks,
    build_job_status_text,
    build_list_text,
)
from bot.fakeslack.blocks import parse_blocks
from bot.flows.cards import dataset_card, job_card
from core.store.datasets import Dataset
from core.store.jobs import TrainingJob


def _job(**fields: object) -> JobCard:
    values: dict[str, object] = {
        "short_id": "job-abc123",
        "request_id": "view:V1",
        "provider": "openai",
        "provider_job_id": "ftjob-1",
        "base_model": "gpt-4o-mini-2024-07-18",
        "status": "queued",
        "options_json": json.dumps({"n_epochs": 2, "suffix": "faq", "validation_split": 0.1}),
        "channel_id": "C1",
        "thread_ts": "1.0",
        "started_by": "U0ALICE",
        "estimated_cost_usd": 1.25,
    }
    values.update(fields)
    return job_card(TrainingJob(**values))  # type: ignore[arg-type]


def test_started_message_says_what_was_started_and_how_to_cancel() -> None:
    blocks = build_job_started_blocks(_job())
    parse_blocks(blocks)
    text = json.dumps(blocks)
    for needle in (
        "job-abc123",
        "ftjob-1",
        "OpenAI",
        "2 epochs",
        "suffix `faq`",
        "10%",
        "$1.25",
        "/finetune cancel job-abc123",
        "<@U0ALICE>",
    ):
        assert needle in text


def test_status_shows_the_error() -> None:
    job = _job(status="failed", error_json=json.dumps({"message": "Quota exhausted."}))
    text = build_job_status_text(job)
    assert "*failed*" in text and "Quota exhausted." in text


def test_list_shows_datasets_and_jobs_or_says_none() -> None:
    empty = build_list_text(datasets=[], jobs=[])
    assert "none yet" in empty
    dataset = Dataset(
        short_id="ds-1",
        slack_file_id="F1",
        channel_id="C1",
        thread_ts="1.0",
        uploader_id="U1",
        file_name="faq.jsonl",
        sha256="0" * 64,
        verdict="ready",
        format="chat",
        examples=12,
        model="m",
        report_json="{}",
    )
    text = build_list_text(
        datasets=[dataset_card(dataset)], jobs=[_job(fine_tuned_model="ft:model")]
    )
    assert "`ds-1` faq.jsonl — ready, 12 examples" in text and "→ `ft:model`" in text
