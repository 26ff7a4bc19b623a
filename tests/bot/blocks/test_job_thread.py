"""Block builders of the job thread: pure functions, checked against Block Kit's shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.blocks.home import HomePage, build_home_view
from bot.blocks.job_thread import (
    CHECKPOINTS_SHOWN,
    JobLabel,
    ResultFacts,
    build_failure_message,
    build_progress_message,
    build_result_message,
    duration,
    milestone_text,
    progress_bar,
)
from bot.blocks.jobs import JobChoices
from core.providers import Checkpoint
from core.training.milestones import FailureHint, Milestone, failure_hint
from core.training.progress import ProgressState

LABEL = JobLabel(
    short_id="job-0001",
    provider="worker",
    base_model="Qwen/Qwen2.5-0.5B",
    started_by="U0ALICE",
    uploader_id="U0BOB",
)


def state(status: str = "running", **changes: object) -> ProgressState:
    values: dict[str, object] = dict(
        status=status,
        step=30,
        total_steps=120,
        epoch=0.75,
        n_epochs=3,
        train_loss=1.23456,
        valid_loss=None,
        tokens_per_second=1520.4,
        elapsed=timedelta(minutes=65),
        eta=timedelta(seconds=42),
        queue_position=None,
    )
    values.update(changes)
    return ProgressState(**values)  # type: ignore[arg-type]


def test_bar_and_durations() -> None:
    assert progress_bar(0.25, width=8) == "▓▓░░░░░░ 25%"
    assert progress_bar(None, width=4) == "░░░░ –"
    assert progress_bar(1.7, width=4).startswith("▓▓▓▓")
    assert [duration(timedelta(seconds=s)) for s in (42, 240, 3900)] == [
        "42 s",
        "4 min",
        "1 h 05 min",
    ]
    assert duration(None) == "–"


def test_progress_message_shows_everything_and_a_guarded_cancel() -> None:
    message = build_progress_message(state(), LABEL)
    text = str(message["blocks"])
    for part in (
        "Training",
        "job-0001",
        "worker",
        "step 30/120",
        "epoch 0.8/3",
        "1.2346",
        "1,520",
        "1 h 05 min",
        "42 s",
        "25%",
    ):
        assert part in text, part
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    button = actions[0]["elements"][0]
    assert button["action_id"] == "progress_cancel" and button["value"] == "job-0001"
    assert "confirm" in button  # a stray click asks first
    assert "Training" in message["text"]


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_finished_jobs_have_no_cancel_button(status: str) -> None:
    message = build_progress_message(state(status), LABEL)
    assert not [b for b in message["blocks"] if b["type"] == "actions"]


def test_milestone_texts() -> None:
    started = Milestone(
        key="started", kind="started", queue_wait=timedelta(minutes=3), queue_position=2
    )
    assert "after 3 min in the queue, queue position was 2" in milestone_text(started, LABEL)
    epoch = Milestone(key="epoch:1", kind="epoch", epoch=1, n_epochs=3, train_loss=0.5)
    assert "Epoch 1/3" in milestone_text(epoch, LABEL) and "valid loss –" in milestone_text(
        epoch, LABEL
    )
    since = datetime(2026, 11, 26, 7, 30, tzinfo=UTC)
    silence = Milestone(key="silence:1", kind="silence", silent_since=since)
    assert "since 2026-11-26 07:30 UTC" in milestone_text(silence, LABEL, provider_failure="500")
    failed = Milestone(key="final", kind="failed", error_message="bad", hint=FailureHint("Fix it."))
    assert "<@U0BOB> <@U0ALICE>" in milestone_text(failed, LABEL)
    with pytest.raises(ValueError):
        milestone_text(Milestone(key="x", kind="plot"), LABEL)


def test_result_without_a_reported_cost_shows_the_estimate() -> None:
    label = JobLabel(
        **{
            **LABEL.__dict__,
            "provider": "openai",
            "fine_tuned_model": "ft:x",
            "trained_tokens": 1234,
            "estimated_cost_usd": 0.5,
            "uploader_id": "U0ALICE",
        }
    )
    result = build_result_message(label, ResultFacts())
    text = str(result["blocks"])
    assert "ft:x" in text and "1,234" in text and "estimated $0.50" in text
    assert text.count("<@U0ALICE>") == 1  # uploader and starter are the same person
    reported = str(build_result_message(label, ResultFacts(reported_cost_usd=2.0))["blocks"])
    assert "$2.00" in reported


def test_success_post_reports_losses_duration_hyperparameters_and_cost() -> None:
    label = JobLabel(
        **{
            **LABEL.__dict__,
            "provider": "openai",
            "base_model": "gpt-4o-mini-2024-07-18",
            "fine_tuned_model": "ft:gpt-4o-mini:acme::1",
            "trained_tokens": 2_000_000,
            "price_per_1m": 3.0,
        }
    )
    facts = ResultFacts(
        train_loss=0.41234,
        valid_loss=0.5321,
        duration=timedelta(minutes=75),
        hyperparameters=(
            ("n_epochs", "3"),
            ("batch_size", "4"),
            ("learning_rate_multiplier", "1.8"),
        ),
    )
    text = str(build_result_message(label, facts)["blocks"])
    for part in (
        "Final train loss*\\n0.4123",
        "Final valid loss*\\n0.5321",
        "1 h 15 min",
        "n_epochs 3, batch_size 4, learning_rate_multiplier 1.8",
        # The provider reported no cost: trained tokens x price.
        "$6.00 (2,000,000 tokens × $3 per 1M)",
    ):
        assert part in text, part
    worker = JobLabel(**{**LABEL.__dict__, "fine_tuned_model": "ft:w", "trained_tokens": 10})
    assert "no API cost" in str(build_result_message(worker, ResultFacts())["blocks"])


def test_progress_keeps_the_options_through_every_edit_and_folds_epochs() -> None:
    def label(epochs: int, split: float | None) -> JobLabel:
        choices = JobChoices(n_epochs=epochs, validation_split=split)
        return JobLabel(**{**LABEL.__dict__, "choices": choices})

    epochs = [
        Milestone(key="epoch:1", kind="epoch", epoch=1, n_epochs=3, train_loss=1.5, valid_loss=1.6),
        Milestone(key="epoch:2", kind="epoch", epoch=2, n_epochs=3, train_loss=1.2),
    ]
    for status in ("queued", "running", "succeeded", "failed"):
        one = str(build_progress_message(state(status), label(3, 0.1), epochs=epochs)["blocks"])
        two = str(build_progress_message(state(status), label(1, None), epochs=epochs)["blocks"])
        assert one != two  # two jobs on one dataset never look alike
        for part in ("Started by <@U0ALICE>", "Qwen/Qwen2.5-0.5B", "3 epochs", "validation 10%"):
            assert part in one, (status, part)
        assert "1 epoch," in two and "no validation split" in two
        assert "Epoch 1/3: train loss 1.5000, valid loss 1.6000" in one
        assert "Epoch 2/3: train loss 1.2000" in one


def _failed(code: str | None, message: str) -> Milestone:
    return Milestone(
        key="final",
        kind="failed",
        error_code=code,
        error_message=message,
        hint=failure_hint(code, message),
    )


@pytest.mark.parametrize(
    ("code", "message", "advice"),
    [
        (
            None,
            "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB while loading "
            "model Qwen/Qwen2.5-7B",
            "smaller batch size, 4-bit loading on, or a shorter maximum sequence length",
        ),
        ("permission_denied", "This organization is not allowed to fine-tune", "worker"),
        ("invalid_training_file", "Example 4 has no assistant message", "validate the file"),
        ("server_error", "The server had an error (503 Service Unavailable)", "Retry later"),
        ("interrupted", "The worker restarted during training", "Retry later"),
    ],
)
def test_failure_advice_matches_the_error_class(
    code: str | None, message: str, advice: str
) -> None:
    label = JobLabel(
        **{**LABEL.__dict__, "dataset_short_id": "ds-1", "offer_retry_on": ("worker",)}
    )
    post = build_failure_message(_failed(code, message), label)
    assert advice in post["text"]
    assert "base model is not available" not in post["text"]
    (actions,) = [b for b in post["blocks"] if b["type"] == "actions"]
    assert [(e["text"]["text"], e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("Retry", "start_job:worker", "ds-1")
    ]


def test_failure_on_openai_offers_retry_and_retry_on_worker() -> None:
    label = JobLabel(
        **{
            **LABEL.__dict__,
            "provider": "openai",
            "dataset_short_id": "ds-1",
            "offer_retry_on": ("openai", "worker"),
        }
    )
    post = build_failure_message(_failed("server_error", "upstream timed out"), label)
    (actions,) = [b for b in post["blocks"] if b["type"] == "actions"]
    labels = [e["text"]["text"] for e in actions["elements"]]
    assert labels == ["Retry", "Retry on worker"]
    assert "/finetune" not in post["text"]  # the buttons say it


def test_empty_home_view_is_valid() -> None:
    view = build_home_view(HomePage())
    assert view["type"] == "home" and len(view["blocks"]) <= 100


def test_a_huge_provider_error_is_cut_to_fit_a_message() -> None:
    failed = Milestone(
        key="final", kind="failed", error_message="x" * 50_000, hint=FailureHint("Retry.")
    )
    text = milestone_text(failed, LABEL)
    assert len(text) < 2000 and "x" * 1500 not in text and "Retry." in text


def test_names_from_users_and_providers_cannot_inject_mrkdwn() -> None:
    label = JobLabel(**{**LABEL.__dict__, "base_model": "<!channel> & co"})
    text = str(build_progress_message(state(), label))
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; co" in text
    failed = Milestone(
        key="final", kind="failed", error_message="bad <@U0EVIL>", hint=FailureHint("x")
    )
    assert "<@U0EVIL>" not in milestone_text(failed, LABEL)


def test_the_result_lists_the_latest_checkpoints_with_their_losses() -> None:
    points = [
        Checkpoint(model=f"ft:m:s:j:ckpt-step-{n}", step=n, train_loss=1 / n, valid_loss=None)
        for n in range(1, 13)
    ]
    points[-1] = Checkpoint(model="ft:m:s:j:ckpt-step-12", step=12, train_loss=0.1, valid_loss=0.2)
    label = JobLabel(short_id="job-1", provider="worker", base_model="m", started_by="U1")
    message = build_result_message(label, ResultFacts(), checkpoints=points)
    text = json.dumps(message["blocks"])
    assert "ckpt-step-12" in text and "valid loss 0.2000" in text
    assert f"ckpt-step-{12 - CHECKPOINTS_SHOWN + 1}`" in text
    assert "ckpt-step-2`" not in text and "2 earlier checkpoints" in text
    plain = build_result_message(label, ResultFacts())
    assert "Checkpoints" not in json.dumps(plain["blocks"])
