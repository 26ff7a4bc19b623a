"""core.providers against FakeOpenAI on loopback, through the real openai SDK."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from openai import AzureOpenAI, OpenAI

from core.config import Settings
from core.errors import ProviderRejected, ProviderTimeout
from core.providers import Provider, build_providers, redact
from tests.fakes.openai_api import FakeOpenAI

CHAT_LINE = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
)


def _provider(
    fake: FakeOpenAI, *, name: str = "openai", retries: int = 0, page: int = 100
) -> Provider:
    client = OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=retries, timeout=5)
    return Provider(name=name, client=client, events_page_size=page)  # type: ignore[arg-type]


@pytest.fixture
def training_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_bytes(CHAT_LINE * 10)
    return path


def _settings(**values: object) -> Settings:
    blank = {
        "OPENAI_API_KEY": None,
        "AZURE_OPENAI_ENDPOINT": None,
        "AZURE_OPENAI_API_KEY": None,
        "TUNEBOT_WORKER_URL": None,
        "TUNEBOT_WORKER_API_KEY": None,
        "OPENAI_BASE_URL": None,
    }
    return Settings(_env_file=None, **{**blank, **values})  # type: ignore[call-arg]


def test_upload_create_retrieve_cancel(fake_openai: FakeOpenAI, training_file: Path) -> None:
    provider = _provider(fake_openai)
    file_id = provider.upload_file(training_file)
    assert fake_openai.file_content(file_id) == training_file.read_bytes()
    assert fake_openai.files()[0]["purpose"] == "fine-tune"
    job = provider.create_job(
        model="gpt-4o-mini-2024-07-18",
        training_file=file_id,
        suffix="faq",
        seed=7,
        hyperparameters={"n_epochs": 2, "lora_r": 8, "batch_size": None},
        metadata={"tunebot_job": "job-1"},
    )
    stored = fake_openai.job(job.id)
    # OpenAI gets only its own hyperparameters; None means "auto" and is left out.
    assert stored["method"]["supervised"]["hyperparameters"]["n_epochs"] == 2
    assert "lora_r" not in stored["method"]["supervised"]["hyperparameters"]
    assert stored["seed"] == 7 and stored["metadata"] == {"tunebot_job": "job-1"}
    assert provider.retrieve_job(job.id).id == job.id
    assert provider.cancel_job(job.id).status == "cancelled"


def test_worker_keeps_lora_hyperparameters(fake_openai: FakeOpenAI, training_file: Path) -> None:
    provider = _provider(fake_openai, name="worker")
    file_id = provider.upload_file(training_file)
    job = provider.create_job(
        model="gpt-4o-mini-2024-07-18", training_file=file_id, hyperparameters={"lora_r": 8}
    )
    assert fake_openai.job(job.id)["method"]["supervised"]["hyperparameters"]["lora_r"] == 8


def test_new_events_pages_back_to_the_last_seen_event(
    fake_openai: FakeOpenAI, training_file: Path
) -> None:
    provider = _provider(fake_openai, page=3)
    file_id = provider.upload_file(training_file)
    job = provider.create_job(model="gpt-4o-mini-2024-07-18", training_file=file_id)
    fake_openai.run_to_end(job.id)
    all_events = fake_openai.events(job.id)
    assert len(all_events) > 7
    everything = provider.new_events(job.id, after_event_id=None)
    assert [e.id for e in everything] == [e["id"] for e in all_events]  # oldest first
    seen = all_events[3]["id"]
    fake_openai.reset_requests()
    newer = provider.new_events(job.id, after_event_id=seen)
    assert [e.id for e in newer] == [e["id"] for e in all_events[4:]]
    # Pages of 3, newest first, until the page holding the last seen event.
    assert len(fake_openai.requests("jobs.events")) == len(newer) // 3 + 1
    fake_openai.reset_requests()
    assert provider.new_events(job.id, after_event_id=all_events[-1]["id"]) == []
    assert len(fake_openai.requests("jobs.events")) == 1


def test_permission_denied_on_create_points_to_the_worker(
    fake_openai: FakeOpenAI, training_file: Path
) -> None:
    provider = _provider(fake_openai)
    file_id = provider.upload_file(training_file)
    fake_openai.deny_job_creation()
    with pytest.raises(ProviderRejected) as caught:
        provider.create_job(model="gpt-4o-mini-2024-07-18", training_file=file_id)
    assert caught.value.code == "fine_tuning_unavailable"
    text = caught.value.user_message()
    assert "2027-01-06" in text and "worker" in text


def test_unknown_model_is_rejected_with_a_hint(
    fake_openai: FakeOpenAI, training_file: Path
) -> None:
    provider = _provider(fake_openai)
    file_id = provider.upload_file(training_file)
    with pytest.raises(ProviderRejected) as caught:
        provider.create_job(model="not-a-model", training_file=file_id)
    assert caught.value.code and caught.value.hint


def test_quota_is_rejected_not_retried(fake_openai: FakeOpenAI, training_file: Path) -> None:
    provider = _provider(fake_openai, retries=2)
    quota = {
        "message": "You exceeded your current quota.",
        "type": "insufficient_quota",
        "code": "insufficient_quota",
        "param": None,
    }
    fake_openai.fail_next("files.create", status=429, error=quota, times=3)
    with pytest.raises(ProviderRejected) as caught:
        provider.upload_file(training_file)
    assert caught.value.code == "insufficient_quota"


def test_server_errors_are_retried_then_time_out(fake_openai: FakeOpenAI) -> None:
    provider = _provider(fake_openai, retries=1)
    fake_openai.fail_next("models.list", status=500, times=1)
    assert "gpt-4o-mini-2024-07-18" in provider.list_models()  # one retry absorbed it
    fake_openai.fail_next("models.list", status=503, times=2)
    with pytest.raises(ProviderTimeout):
        provider.list_models()
    assert len(fake_openai.requests("models.list")) == 4


def test_connection_failure_is_a_timeout() -> None:
    client = OpenAI(api_key="sk-x", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    with pytest.raises(ProviderTimeout) as caught:
        Provider(name="worker", client=client).list_models()
    assert caught.value.code == "connection_error"


def test_bad_key_never_appears_in_the_message(fake_openai: FakeOpenAI) -> None:
    client = OpenAI(
        api_key="sk-proj-SECRETSECRET1234", base_url=fake_openai.base_url, max_retries=0
    )
    with pytest.raises(ProviderRejected) as caught:
        Provider(name="openai", client=client).list_models()
    assert caught.value.code == "invalid_api_key"
    assert "SECRET" not in caught.value.user_message()
    assert redact("Incorrect API key provided: sk-proj-SECRETSECRET1234.") == (
        "Incorrect API key provided: [redacted]."
    )


def test_list_models_puts_fine_tunable_first(fake_openai: FakeOpenAI) -> None:
    models = _provider(fake_openai).list_models()
    assert models[0] == "gpt-4.1-mini-2025-04-14"
    assert "gpt-4o" in models


def test_chat_is_timed(fake_openai: FakeOpenAI) -> None:
    fake_openai.set_responder("gpt-4o-mini", lambda messages, body: "pong")
    result = _provider(fake_openai).chat(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}]
    )
    assert result.text == "pong" and result.latency_s > 0 and result.completion_tokens > 0


def test_azure_uses_azure_paths(fake_openai: FakeOpenAI, training_file: Path) -> None:
    client = AzureOpenAI(
        azure_endpoint=fake_openai.azure_endpoint,
        api_key=fake_openai.api_key,
        api_version="2025-04-01-preview",
        max_retries=0,
    )
    provider = Provider(name="azure", client=client)
    file_id = provider.upload_file(training_file)
    provider.create_job(model="gpt-4o-mini-2024-07-18", training_file=file_id)
    assert all(r.azure for r in fake_openai.requests())


def test_build_providers_only_configured(fake_openai: FakeOpenAI) -> None:
    assert build_providers(_settings()) == {}
    providers = build_providers(
        _settings(
            OPENAI_API_KEY=fake_openai.api_key,
            OPENAI_BASE_URL=fake_openai.base_url,
            TUNEBOT_WORKER_URL=fake_openai.url,  # "/v1" is added for the worker
            TUNEBOT_WORKER_API_KEY=fake_openai.api_key,
        )
    )
    assert list(providers) == ["worker", "openai"]
    assert providers["worker"].list_models() == providers["openai"].list_models()
    assert "sk-" not in repr(providers["openai"])
    for provider in providers.values():
        provider.close()


def test_azure_upload_waits_until_the_file_is_processed(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    client = AzureOpenAI(
        azure_endpoint=fake_openai.azure_endpoint,
        api_key=fake_openai.api_key,
        api_version="2025-04-01-preview",
        max_retries=0,
    )
    path = tmp_path / "t.jsonl"
    path.write_text(CHAT_LINE.decode())
    file_id = Provider(name="azure", client=client).upload_file(path)
    assert [r.route for r in fake_openai.requests()] == ["files.create", "files.retrieve"]
    assert file_id


# --- the poller's async reader (aiohttp transport, as build_providers makes it) ----------
def _built(fake: FakeOpenAI, *, retries: int = 0, azure: bool = False) -> Provider:
    if azure:
        settings = _settings(
            AZURE_OPENAI_ENDPOINT=fake.azure_endpoint,
            AZURE_OPENAI_API_KEY=fake.api_key,
            TUNEBOT_PROVIDER_MAX_RETRIES=retries,
        )
        return build_providers(settings)["azure"]
    settings = _settings(
        OPENAI_API_KEY=fake.api_key,
        OPENAI_BASE_URL=fake.base_url,
        TUNEBOT_PROVIDER_MAX_RETRIES=retries,
    )
    return build_providers(settings)["openai"]


def _read(provider: Provider, job_id: str, *, after: str | None = None) -> tuple[Any, list[Any]]:
    """retrieve + new events through a fresh reader on its own loop, as the poller does."""

    async def both() -> tuple[Any, list[Any]]:
        reader = provider.job_reader()
        try:
            job = await reader.retrieve_job(job_id)
            return job, await reader.new_events(job_id, after_event_id=after)
        finally:
            await reader.aclose()

    return asyncio.run(both())


@pytest.mark.parametrize("azure", [False, True])
def test_job_reader_reads_what_the_sync_client_reads(
    fake_openai: FakeOpenAI, training_file: Path, azure: bool
) -> None:
    provider = _built(fake_openai, azure=azure)
    job = provider.create_job(
        model="gpt-4o-mini-2024-07-18", training_file=provider.upload_file(training_file)
    )
    fake_openai.run_to_end(job.id)
    events = fake_openai.events(job.id)
    fake_openai.reset_requests()
    state, newer = _read(provider, job.id, after=events[3]["id"])
    assert state.status == provider.retrieve_job(job.id).status == "succeeded"
    assert [e.id for e in newer] == [e["id"] for e in events[4:]]  # oldest first
    assert all(r.azure == azure for r in fake_openai.requests())
    fake_openai.reset_requests()
    assert _read(provider, job.id, after=events[-1]["id"])[1] == []
    assert [r.route for r in fake_openai.requests()] == ["jobs.retrieve", "jobs.events"]


def test_job_reader_retries_then_maps_errors_like_the_sync_client(
    fake_openai: FakeOpenAI, training_file: Path
) -> None:
    provider = _built(fake_openai, retries=1)
    job = provider.create_job(
        model="gpt-4o-mini-2024-07-18", training_file=provider.upload_file(training_file)
    )
    fake_openai.fail_next("jobs.retrieve", status=429, times=1)  # with Retry-After: retried
    assert _read(provider, job.id)[0].id == job.id
    fake_openai.fail_next("jobs.events", status=503, times=2)
    with pytest.raises(ProviderTimeout) as timeout:
        _read(provider, job.id)
    assert timeout.value.code == "server_error" and timeout.value.provider == "openai"
    with pytest.raises(ProviderRejected) as missing:
        _read(provider, "ftjob-nope")
    assert missing.value.code == "not_found" and missing.value.hint


def test_job_reader_connection_failure_is_a_timeout() -> None:
    settings = _settings(TUNEBOT_WORKER_URL="http://127.0.0.1:9", TUNEBOT_PROVIDER_MAX_RETRIES=0)
    with pytest.raises(ProviderTimeout) as caught:
        _read(build_providers(settings)["worker"], "ftjob-1")
    assert caught.value.code == "connection_error"


def test_a_provider_without_an_async_client_cannot_be_polled(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(ProviderRejected) as caught:
        _provider(fake_openai).job_reader()
    assert caught.value.code == "no_async_client" and "build_providers" in (caught.value.hint or "")


def test_job_reader_gives_up_on_a_slow_provider_after_the_timeout(
    fake_openai: FakeOpenAI, training_file: Path
) -> None:
    provider = _built(fake_openai)
    job = provider.create_job(
        model="gpt-4o-mini-2024-07-18", training_file=provider.upload_file(training_file)
    )
    slow = build_providers(
        _settings(
            OPENAI_API_KEY=fake_openai.api_key,
            OPENAI_BASE_URL=fake_openai.base_url,
            TUNEBOT_PROVIDER_MAX_RETRIES=0,
            TUNEBOT_PROVIDER_TIMEOUT=0.3,
        )
    )["openai"]
    fake_openai.latency = 1.0
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        _read(slow, job.id)
    assert caught.value.code == "timeout" and time.monotonic() - started < 1.0


PAIR_LINE = (
    b'{"input": {"messages": [{"role": "user", "content": "hi"}]}, '
    b'"preferred_output": [{"role": "assistant", "content": "hello"}], '
    b'"non_preferred_output": [{"role": "assistant", "content": "go away"}]}\n'
)


def test_dpo_sends_openais_shape_and_checkpoints_come_back(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_bytes(PAIR_LINE * 10)
    provider = _provider(fake_openai)
    file_id = provider.upload_file(pairs)
    validation = provider.upload_file(pairs)
    job = provider.create_job(
        model="gpt-4o-mini-2024-07-18",
        training_file=file_id,
        validation_file=validation,
        method="dpo",
        # sft_weight and lora_r are the worker's; OpenAI would refuse them, so they are dropped.
        hyperparameters={"beta": 0.3, "n_epochs": 2, "sft_weight": 1.0, "lora_r": 8},
    )
    sent = fake_openai.job(job.id)["method"]
    assert sent["type"] == "dpo"
    assert sent["dpo"]["hyperparameters"]["beta"] == 0.3
    assert "sft_weight" not in sent["dpo"]["hyperparameters"]
    fake_openai.run_to_end(job.id)
    checkpoints = provider.list_checkpoints(job.id)
    assert [c.step for c in checkpoints] == sorted(c.step for c in checkpoints)
    assert len(checkpoints) == 2 and all(c.model.startswith("ft:") for c in checkpoints)
    assert all(c.valid_loss is not None and c.train_loss is not None for c in checkpoints)
