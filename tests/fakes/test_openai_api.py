"""FakeOpenAI driven by the real openai SDK (OpenAI and AzureOpenAI clients)."""

from __future__ import annotations

import base64
import concurrent.futures
import time
from typing import Any

import openai
import pytest
from openai import AzureOpenAI, OpenAI

from tests.fakes.openai_api import FakeOpenAI

LINE = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
)
TRAIN = LINE * 3


@pytest.fixture
def client(fake_openai: FakeOpenAI) -> OpenAI:
    return OpenAI(api_key=fake_openai.api_key, base_url=fake_openai.base_url, max_retries=0)


def _start(client: OpenAI, **kwargs: Any) -> str:
    training = client.files.create(file=("train.jsonl", TRAIN), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=training.id, **kwargs
    )
    return job.id


def _poll(client: OpenAI, job_id: str) -> list[str]:
    statuses: list[str] = []
    for _ in range(20):
        job = client.fine_tuning.jobs.retrieve(job_id)
        statuses.append(job.status)
        if job.status in ("succeeded", "failed", "cancelled"):
            break
    return statuses


def test_full_lifecycle(fake_openai: FakeOpenAI, client: OpenAI) -> None:
    validation = client.files.create(file=("valid.jsonl", TRAIN), purpose="fine-tune")
    job_id = _start(client, validation_file=validation.id, suffix="support")
    statuses = _poll(client, job_id)
    assert statuses == ["queued", "running", "running", "succeeded"]
    job = client.fine_tuning.jobs.retrieve(job_id)
    assert job.fine_tuned_model == f"ft:gpt-4o-mini-2024-07-18:tunebot:support:{job_id[-8:]}"
    assert job.trained_tokens == 10 * 2048 and job.hyperparameters.n_epochs == 2
    assert job.error is None and job.finished_at is not None
    events = list(client.fine_tuning.jobs.list_events(job_id, limit=100))
    metrics: list[dict[str, Any]] = [e.data for e in events if e.type == "metrics"]  # type: ignore[misc]
    assert [m["step"] for m in metrics] == list(range(10, 0, -1))  # newest first
    assert {"full_valid_loss", "valid_loss"} <= set(
        metrics[0]
    ) and "full_valid_loss" not in metrics[1]
    messages = [e.message for e in events if e.type == "message"]
    assert messages[:2] == [
        "Fine-tuning job successfully completed",
        f"New fine-tuned model created: {job.fine_tuned_model}",
    ]
    assert "Fine-tuning job started" in messages
    csv = base64.b64decode(client.files.content(job.result_files[0]).content).decode()
    assert csv.splitlines()[0].startswith("step,train_loss") and len(csv.splitlines()) == 11
    steps = [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job_id).data]
    assert steps == [10, 5]
    answer = client.chat.completions.create(
        model=job.fine_tuned_model, messages=[{"role": "user", "content": "q"}]
    )
    assert answer.usage is not None and answer.usage.total_tokens > 0


def test_events_page_towards_older_with_after(fake_openai: FakeOpenAI, client: OpenAI) -> None:
    job_id = _start(client)
    fake_openai.run_to_end(job_id)
    everything = [e.id for e in client.fine_tuning.jobs.list_events(job_id, limit=100).data]
    first = client.fine_tuning.jobs.list_events(job_id, limit=4)
    second = client.fine_tuning.jobs.list_events(job_id, limit=4, after=first.data[-1].id)
    assert first.has_more and [e.id for e in first.data + second.data] == everything[:8]
    last = client.fine_tuning.jobs.list_events(job_id, limit=100, after=everything[-2])
    assert [e.id for e in last.data] == everything[-1:] and last.has_more is False
    # Iterating the SDK's cursor page follows `after` through every page.
    assert [e.id for e in client.fine_tuning.jobs.list_events(job_id, limit=3)] == everything


def test_job_list_pagination(fake_openai: FakeOpenAI, client: OpenAI) -> None:
    ids = [_start(client) for _ in range(3)]
    page = client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in page.data] == ids[::-1][:2] and page.has_more
    assert [j.id for j in client.fine_tuning.jobs.list(limit=2, after=ids[1]).data] == ids[:1]


def test_scripted_failure_cancellation_and_manual_advance(
    fake_openai: FakeOpenAI, client: OpenAI
) -> None:
    fake_openai.script_next_job(outcome="failed")
    fake_openai.script_next_job(outcome="cancelled", total_steps=4, steps_per_tick=1)
    failed, cancelled = _start(client), _start(client)
    assert _poll(client, failed) == ["failed"]
    error = client.fine_tuning.jobs.retrieve(failed).error
    assert (
        error is not None
        and error.code == "invalid_training_file"
        and error.param == "training_file"
    )
    assert _poll(client, cancelled)[-1] == "cancelled"
    assert client.fine_tuning.jobs.retrieve(cancelled).fine_tuned_model is None

    fake_openai.advance_mode = "manual"
    job_id = _start(client)
    assert client.fine_tuning.jobs.retrieve(job_id).status == "validating_files"
    assert fake_openai.advance(job_id, 2)["status"] == "running"
    cancelled_now = client.fine_tuning.jobs.cancel(job_id)
    assert cancelled_now.status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job_id)


def test_clock_mode_advances_with_time(fake_openai: FakeOpenAI, client: OpenAI) -> None:
    fake_openai.advance_mode, fake_openai.seconds_per_tick = "clock", 0.05
    job_id = _start(client)
    assert client.fine_tuning.jobs.retrieve(job_id).status == "validating_files"
    time.sleep(0.3)
    assert client.fine_tuning.jobs.retrieve(job_id).status == "succeeded"


def test_create_is_validated(fake_openai: FakeOpenAI, client: OpenAI) -> None:
    training = client.files.create(file=("train.jsonl", TRAIN), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model="gpt-4o", training_file=training.id)
    assert info.value.code == "model_not_available"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-missing")
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=training.id, hyperparameters={"n_epochs": 0}
        )
    with pytest.raises(openai.BadRequestError) as bad_file:
        client.files.create(
            file=("train.csv", b"prompt,completion\nhi,there\n"), purpose="fine-tune"
        )
    assert bad_file.value.code == "invalid_file"
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-nope")
    fake_openai.deny_job_creation()
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
    assert denied.value.status_code == 403 and "fine-tuning" in denied.value.message
    with pytest.raises(openai.AuthenticationError):
        OpenAI(api_key="sk-wrong", base_url=fake_openai.base_url, max_retries=0).models.list()


def test_429_and_500_are_retried_by_the_sdk(fake_openai: FakeOpenAI) -> None:
    retrying = OpenAI(api_key=fake_openai.api_key, base_url=fake_openai.base_url, max_retries=2)
    job_id = _start(retrying)
    fake_openai.fail_next("jobs.retrieve", status=429, retry_after=0.05, times=2)
    assert retrying.fine_tuning.jobs.retrieve(job_id).status == "queued"
    assert [r.status for r in fake_openai.requests("jobs.retrieve")] == [429, 429, 200]
    fake_openai.fail_next("jobs.events", status=500, times=3, job_id=job_id, retry_after=0.01)
    with pytest.raises(openai.InternalServerError):
        retrying.fine_tuning.jobs.list_events(job_id)
    assert len(fake_openai.requests("jobs.events", job_id=job_id)) == 3


def test_outage_and_request_counts(fake_openai: FakeOpenAI, client: OpenAI) -> None:
    job_id = _start(client)
    fake_openai.reset_requests()
    client.fine_tuning.jobs.retrieve(job_id)
    client.fine_tuning.jobs.list_events(job_id)
    assert fake_openai.request_counts() == {"jobs.retrieve": 1, "jobs.events": 1}
    fake_openai.fail_for(0.2, status=503)
    with pytest.raises(openai.InternalServerError):
        client.fine_tuning.jobs.retrieve(job_id)
    time.sleep(0.25)
    assert client.fine_tuning.jobs.retrieve(job_id).status == "running"


def test_chat_responders_run_concurrently(fake_openai: FakeOpenAI, client: OpenAI) -> None:
    fake_openai.set_responder("gpt-4o-mini", lambda messages, body: "base says hi", delay=0.4)
    fake_openai.set_responder(
        "ft:gpt-4o-mini-2024-07-18:tunebot::abc", lambda m, b: "tuned says hi", delay=0.4
    )
    models = ["gpt-4o-mini", "ft:gpt-4o-mini-2024-07-18:tunebot::abc"]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda m: (
                    client.chat.completions.create(
                        model=m, messages=[{"role": "user", "content": "hi"}]
                    )
                    .choices[0]
                    .message.content
                ),
                models,
            )
        )
    assert answers == ["base says hi", "tuned says hi"]
    # The delays overlap on the server (the pair costs ~max, not the sum).
    first, second = fake_openai.requests("chat.completions")
    assert first.end - first.start >= 0.4 and second.start < first.end and first.start < second.end
    fake_openai.fail_next("chat.completions", model="gpt-4o-mini", status=500)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert client.chat.completions.create(
        model=models[1], messages=[{"role": "user", "content": "x"}]
    )
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])


def test_azure_client_uses_the_same_server(fake_openai: FakeOpenAI) -> None:
    azure = AzureOpenAI(
        api_key=fake_openai.api_key,
        azure_endpoint=fake_openai.azure_endpoint,
        api_version="2024-10-21",
        max_retries=0,
    )
    fake_openai.azure_file_processing_retrieves = 2
    training = azure.files.create(file=("train.jsonl", TRAIN), purpose="fine-tune")
    # Azure's file states include "pending" (the openai SDK's type lists only OpenAI's).
    assert str(training.status) == "pending"
    with pytest.raises(openai.BadRequestError):  # Azure refuses jobs on files still importing
        azure.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training.id)
    statuses = [azure.files.retrieve(training.id).status for _ in range(2)]
    assert statuses == ["pending", "processed"]
    job = azure.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training.id)
    assert azure.fine_tuning.jobs.retrieve(job.id).status == "queued"
    reply = azure.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "q"}]
    )
    assert reply.choices[0].message.content == "[gpt-4o-mini] answer to: q"
    [chat] = fake_openai.requests("chat.completions")
    assert chat.azure and chat.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    with pytest.raises(openai.NotFoundError):
        azure.chat.completions.create(
            model="no-such-deployment", messages=[{"role": "user", "content": "q"}]
        )
    wrong = AzureOpenAI(
        api_key="wrong",
        azure_endpoint=fake_openai.azure_endpoint,
        api_version="2024-10-21",
        max_retries=0,
    )
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


PAIR = (
    b'{"input": {"messages": [{"role": "user", "content": "hi"}]}, '
    b'"preferred_output": [{"role": "assistant", "content": "hello"}], '
    b'"non_preferred_output": [{"role": "assistant", "content": "go away"}]}\n'
)


def test_dpo_is_checked_as_openai_checks_it(fake_openai: FakeOpenAI, client: OpenAI) -> None:
    pairs = client.files.create(file=("pairs.jsonl", PAIR * 3), purpose="fine-tune")
    chat = client.files.create(file=("chat.jsonl", TRAIN), purpose="fine-tune")

    def create(training: str, method: Any) -> Any:
        return client.fine_tuning.jobs.create(
            model="gpt-4o-mini-2024-07-18", training_file=training, method=method
        )

    dpo = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "n_epochs": 1}}}
    job = create(pairs.id, dpo)
    assert job.method is not None and job.method.type == "dpo"
    assert _poll(client, job.id)[-1] == "succeeded"
    # Worker extensions, out-of-range beta and a misplaced method object are 400s.
    for bad in (
        {"type": "dpo", "dpo": {"hyperparameters": {"sft_weight": 1.0}}},
        {"type": "dpo", "dpo": {"hyperparameters": {"beta": 5}}},
        {"type": "dpo", "supervised": {"hyperparameters": {}}},
    ):
        with pytest.raises(openai.BadRequestError):
            create(pairs.id, bad)
    # The file must suit the method: the job fails in validating_files, as on OpenAI.
    wrong = [create(chat.id, dpo), create(pairs.id, {"type": "supervised"})]
    for job in wrong:
        failed = client.fine_tuning.jobs.retrieve(job.id)
        assert failed.status == "failed" and failed.error is not None
        assert failed.error.code == "invalid_training_file"
    assert "non_preferred_output" in str(client.fine_tuning.jobs.retrieve(wrong[0].id).error)
