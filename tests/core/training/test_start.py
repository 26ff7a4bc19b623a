"""core.training.start and cancel: spend cap, exactly-once claims, launch on FakeOpenAI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai import OpenAI
from sqlalchemy.engine import Engine

from core.config import Settings
from core.errors import ProviderRejected, TrainingError
from core.providers import Provider
from core.store.ab import insert_prompt, insert_session, store_answers
from core.store.datasets import Dataset, add_dataset
from core.store.engine import create_db_engine, init_db
from core.store.evaluation import AbPrompt, AbResponse, AbSession
from core.store.jobs import get_job, update_job
from core.training.cancel import cancel_job
from core.training.start import (
    BudgetExceeded,
    DuplicateRequest,
    JobAlreadyActive,
    JobOptions,
    StartRequest,
    check_budget,
    claim_job,
    launch_job,
    split_jsonl,
)
from core.validation.report import Report
from tests.fakes.openai_api import FakeOpenAI

LINE = '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}'
MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'start.db'}")
    init_db(engine)
    return engine


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, TUNEBOT_DATA_DIR=tmp_path / "data", **values)  # type: ignore[call-arg]


def _dataset(
    engine: Engine, tmp_path: Path, *, verdict: str = "ready", billed: int = 1_000_000
) -> Dataset:
    training = tmp_path / "train.jsonl"
    training.write_text("\n".join([LINE] * 20) + "\n")
    report = Report(
        file_name="train.jsonl",
        file_type="jsonl",
        verdict=verdict,
        format="chat",  # type: ignore[arg-type]
        examples=20,
        billed_tokens_per_epoch=billed,
        epochs=5,
        trained_tokens=billed * 5,
        model=MODEL,
        encoding="o200k_base",
    )
    return add_dataset(
        engine,
        Dataset(
            short_id="ds-aaaaaa",
            slack_file_id="F1",
            channel_id="C1",
            thread_ts="1.0",
            uploader_id="U1",
            file_name="train.jsonl",
            sha256="0" * 64,
            verdict=verdict,
            format="chat",
            examples=20,
            model=MODEL,
            report_json=report.model_dump_json(),
            training_path=str(training),
        ),
    )


def _request(dataset: Dataset, request_id: str = "view:V1", **options: object) -> StartRequest:
    values: dict[str, object] = {"provider": "openai", "base_model": MODEL}
    values.update(options)
    return StartRequest(
        request_id=request_id,
        dataset_id=dataset.id or 0,
        options=JobOptions(**values),
        user_id="U1",  # type: ignore[arg-type]
    )


def _providers(fake: FakeOpenAI) -> dict[str, Provider]:
    client = OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)
    return {
        "openai": Provider(name="openai", client=client),
        "worker": Provider(name="worker", client=client),
    }


def test_budget_refusal_says_by_how_much(
    engine: Engine, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    dataset = _dataset(engine, tmp_path)  # 1M tokens/epoch at $3/1M -> $6 for 2 epochs
    settings = _settings(tmp_path, TUNEBOT_MONTHLY_BUDGET_USD=10.0)
    providers = _providers(fake_openai)
    first = claim_job(engine, _request(dataset, n_epochs=2), settings=settings, providers=providers)
    assert first.estimated_cost_usd == pytest.approx(6.0)
    with pytest.raises(BudgetExceeded) as caught:
        claim_job(
            engine, _request(dataset, "view:V2", n_epochs=3), settings=settings, providers=providers
        )
    assert caught.value.message == (
        "This job (about $9.00) would take this month's estimated spend to $15.00, "
        "$5.00 over the $10.00 monthly budget."
    )
    # The worker runs on the team's GPUs: no cost, so it is not refused.
    claim_job(
        engine,
        _request(dataset, "view:V3", provider="worker", base_model="tiny"),
        settings=settings,
        providers=providers,
    )


def test_a_job_under_a_cent_over_the_budget_is_not_called_zero_over(
    engine: Engine, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    _dataset(engine, tmp_path)
    settings = _settings(tmp_path, TUNEBOT_MONTHLY_BUDGET_USD=5.999)
    with pytest.raises(BudgetExceeded) as caught:
        check_budget(engine, settings=settings, cost=6.0)
    assert "$0.00 over" not in caught.value.message
    assert "just over the $6.00 monthly budget" in caught.value.message


def test_one_job_per_request_and_per_active_options(
    engine: Engine, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    dataset = _dataset(engine, tmp_path)
    settings, providers = _settings(tmp_path), _providers(fake_openai)
    job = claim_job(engine, _request(dataset), settings=settings, providers=providers)
    with pytest.raises(DuplicateRequest) as again:
        claim_job(engine, _request(dataset), settings=settings, providers=providers)
    assert again.value.job.short_id == job.short_id
    with pytest.raises(JobAlreadyActive):
        claim_job(engine, _request(dataset, "view:V2"), settings=settings, providers=providers)
    claim_job(
        engine, _request(dataset, "view:V3", n_epochs=3), settings=settings, providers=providers
    )
    update_job(engine, job.id or 0, status="failed")  # a final job frees its options
    claim_job(engine, _request(dataset, "view:V4"), settings=settings, providers=providers)


def test_not_ready_dataset_and_bad_options_are_refused(
    engine: Engine, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    settings, providers = _settings(tmp_path), _providers(fake_openai)
    dataset = _dataset(engine, tmp_path, verdict="not_ready")
    with pytest.raises(TrainingError, match="has errors"):
        claim_job(engine, _request(dataset), settings=settings, providers=providers)
    assert JobOptions(provider="openai", base_model=MODEL, lora_r=8).problems() == {
        "lora_r": "LoRA rank and 4-bit loading only apply to the worker."
    }
    assert set(JobOptions(provider="worker", base_model="m", lora_r=1000).problems()) == {"lora_r"}
    assert set(
        JobOptions(provider="openai", base_model="", suffix="a b", validation_split=0.9).problems()
    ) == {
        "base_model",
        "suffix",
        "validation_split",
    }


def test_launch_uploads_split_files_and_records_ids(
    engine: Engine, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    dataset = _dataset(engine, tmp_path)
    settings, providers = _settings(tmp_path), _providers(fake_openai)
    job = claim_job(
        engine,
        _request(dataset, validation_split=0.25, suffix="faq"),
        settings=settings,
        providers=providers,
    )
    launched = launch_job(engine, job, settings=settings, providers=providers)
    (created,) = fake_openai.jobs()
    assert launched.provider_job_id == created["id"] and launched.status == created["status"]
    train = fake_openai.file_content(created["training_file"]).decode().splitlines()
    valid = fake_openai.file_content(created["validation_file"]).decode().splitlines()
    assert (len(train), len(valid)) == (15, 5)
    assert created["metadata"] == {"tunebot_job": job.short_id}


def test_provider_refusal_fails_the_row_and_frees_the_options(
    engine: Engine, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    dataset = _dataset(engine, tmp_path)
    settings, providers = _settings(tmp_path), _providers(fake_openai)
    fake_openai.deny_job_creation()
    job = claim_job(engine, _request(dataset), settings=settings, providers=providers)
    with pytest.raises(ProviderRejected):
        launch_job(engine, job, settings=settings, providers=providers)
    row = get_job(engine, job.id or 0)
    assert row is not None and row.status == "failed" and row.active_key is None
    assert json.loads(row.error_json or "{}")["code"] == "fine_tuning_unavailable"


def test_cancel_asks_the_provider_once(
    engine: Engine, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    dataset = _dataset(engine, tmp_path)
    settings, providers = _settings(tmp_path), _providers(fake_openai)
    job = launch_job(
        engine,
        claim_job(engine, _request(dataset), settings=settings, providers=providers),
        settings=settings,
        providers=providers,
    )
    cancelled = cancel_job(engine, job, providers=providers, user_id="U2")
    assert cancelled.status == "cancelled" and cancelled.cancelled_by == "U2"
    with pytest.raises(TrainingError, match="already cancelled"):
        cancel_job(engine, cancelled, providers=providers, user_id="U2")


def test_split_is_reproducible_and_never_empty(tmp_path: Path) -> None:
    source = tmp_path / "s.jsonl"
    source.write_text("".join(f'{{"i": {i}}}\n' for i in range(10)))
    first = split_jsonl(source, fraction=0.01, seed=3, out_dir=tmp_path / "a")
    second = split_jsonl(source, fraction=0.01, seed=3, out_dir=tmp_path / "b")
    assert first[1].read_text() == second[1].read_text()
    assert (
        len(first[1].read_text().splitlines()) == 1 and len(first[0].read_text().splitlines()) == 9
    )


def test_a_start_lost_in_a_crash_stops_blocking_after_a_while(
    engine: Engine, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    from datetime import timedelta

    from core.store.datasets import utcnow

    dataset = _dataset(engine, tmp_path)
    settings, providers = _settings(tmp_path), _providers(fake_openai)
    lost = claim_job(engine, _request(dataset), settings=settings, providers=providers)
    with pytest.raises(JobAlreadyActive):
        claim_job(engine, _request(dataset, "view:V2"), settings=settings, providers=providers)
    update_job(engine, lost.id or 0, created_at=utcnow() - timedelta(hours=1))
    again = claim_job(engine, _request(dataset, "view:V3"), settings=settings, providers=providers)
    assert again.status == "starting"
    old = get_job(engine, lost.id or 0)
    assert old is not None and old.status == "failed"


def test_costs_by_model_are_cheapest_first_and_honour_overrides(tmp_path: Path) -> None:
    from core.training.start import costs_by_model

    report = Report(
        file_name="f",
        file_type="jsonl",
        verdict="ready",
        format="chat",
        examples=10,
        billed_tokens_per_epoch=1_000_000,
        epochs=2,
        model=MODEL,
        encoding="o200k_base",
    )
    costs = dict(costs_by_model(report, settings=_settings(tmp_path)))
    assert costs["gpt-4o-mini"] == pytest.approx(6.0)  # $3 per 1M tokens, 2M tokens
    cheap = costs_by_model(report, settings=_settings(tmp_path, TUNEBOT_PRICES={"gpt-4o": 0.01}))
    assert cheap[0] == ("gpt-4o", pytest.approx(0.02))


def test_the_method_must_suit_the_data_and_beta_only_dpo(
    engine: Engine, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    settings, providers = _settings(tmp_path), _providers(fake_openai)
    dataset = _dataset(engine, tmp_path)
    with pytest.raises(TrainingError, match="DPO needs preference pairs"):
        claim_job(engine, _request(dataset, method="dpo"), settings=settings, providers=providers)
    assert fake_openai.files() == []

    def problems(**values: object) -> set[str]:
        return set(JobOptions(base_model=MODEL, **values).problems())  # type: ignore[arg-type]

    assert problems(provider="openai", method="ppo") == {"method"}
    assert problems(provider="openai", beta=0.1) == {"beta"}
    assert problems(provider="openai", method="dpo", beta=3.0) == {"beta"}
    assert problems(provider="worker", method="dpo", beta=3.0) == set()  # the worker allows 10
    assert problems(provider="worker", method="dpo", beta=11.0) == {"beta"}
    assert JobOptions(
        provider="openai", base_model=MODEL, method="dpo", beta=0.2
    ).hyperparameters() == {"beta": 0.2}


def test_ab_answers_this_month_count_against_a_training_job(
    engine: Engine, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    dataset = _dataset(engine, tmp_path)  # $6 for 2 epochs
    session, _ = insert_session(
        engine,
        row=AbSession(
            short_id="ab-000001",
            request_id="r",
            channel_id="C1",
            created_by="U1",
            candidate_provider="openai",
            candidate_model=MODEL,
            baseline_provider="openai",
            baseline_model=MODEL,
        ),
    )
    prompt = insert_prompt(
        engine,
        row=AbPrompt(
            session_id=session.id or 0,
            slack_ts="2.0",
            author_id="U1",
            text="hi",
            opponent="baseline",
            candidate_position="A",
        ),
        opponent_for=lambda _number: "baseline",
    )
    assert prompt is not None
    # 5M tokens of answers at $1 per 1M: $5 of this month's $10 budget is gone.
    answer = AbResponse(
        prompt_id=prompt.id or 0,
        arm="candidate",
        provider="openai",
        model=MODEL,
        position="A",
        text="x",
        prompt_tokens=4_000_000,
        completion_tokens=1_000_000,
    )
    store_answers(engine, prompt_id=prompt.id or 0, status="answered", responses=[answer])
    settings = _settings(
        tmp_path, TUNEBOT_MONTHLY_BUDGET_USD=10.0, TUNEBOT_INFERENCE_PRICES={MODEL: 1.0}
    )
    with pytest.raises(BudgetExceeded) as caught:
        claim_job(
            engine,
            _request(dataset, n_epochs=2),
            settings=settings,
            providers=_providers(fake_openai),
        )
    assert "to $11.00, $1.00 over the $10.00" in caught.value.message
