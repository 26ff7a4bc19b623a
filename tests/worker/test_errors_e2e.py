"""Bad requests get OpenAI-shaped errors that the SDK raises as the right class."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest

from tests.worker.harness import (
    MAX_UPLOAD_BYTES,
    WorkerProcess,
    wait_final,
    write_chat_jsonl,
)


@pytest.fixture(scope="module")
def training_file_id(worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = write_chat_jsonl(tmp_path_factory.mktemp("data") / "train.jsonl")
    return worker.client().files.create(file=path, purpose="fine-tune").id


def _error_body(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]  # type: ignore[no-any-return]


def test_health_needs_no_key(worker: WorkerProcess) -> None:
    health = httpx.get(worker.base_url + "/healthz").json()
    assert health["device"] == "cpu" and health["models"] == ["tiny"]
    assert isinstance(health["queue_length"], int) and health["version"]


def test_missing_or_wrong_key_is_401(worker: WorkerProcess) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        worker.client(api_key="wrong").models.list()
    assert raised.value.code == "invalid_api_key"
    response = httpx.get(worker.base_url + "/v1/models")
    assert response.status_code == 401 and _error_body(response)["code"] == "missing_api_key"


def test_unknown_base_model_names_served_models(
    worker: WorkerProcess, training_file_id: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        worker.client().fine_tuning.jobs.create(model="gpt-9", training_file=training_file_id)
    assert raised.value.param == "model" and "Served models: tiny" in raised.value.message


def test_missing_file_and_unknown_job(worker: WorkerProcess) -> None:
    client = worker.client()
    with pytest.raises(openai.BadRequestError) as raised:
        client.fine_tuning.jobs.create(model="tiny", training_file="file-nope")
    assert raised.value.param == "training_file"
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-nope")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-nope")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="ft:tiny::nope", messages=[{"role": "user", "content": "hi"}]
        )


def test_wrong_purpose(worker: WorkerProcess, tmp_path: Path) -> None:
    path = write_chat_jsonl(tmp_path / "train.jsonl")
    with pytest.raises(openai.BadRequestError) as raised:
        worker.client().files.create(file=path, purpose="assistants")
    assert raised.value.param == "purpose"


def test_a_file_that_is_not_a_dataset(worker: WorkerProcess, tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    with pytest.raises(openai.BadRequestError) as raised:
        worker.client().files.create(file=picture, purpose="fine-tune")
    assert raised.value.code == "invalid_file_format" and "JSONL" in raised.value.message
    prose = tmp_path / "notes.jsonl"
    prose.write_text("just some notes\nnot json\n")
    with pytest.raises(openai.BadRequestError):
        worker.client().files.create(file=prose, purpose="fine-tune")


def test_upload_over_the_cap_is_413(worker: WorkerProcess, tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    line = json.dumps({"text": "x" * 1000}) + "\n"
    big.write_text(line * (MAX_UPLOAD_BYTES // len(line) + 10))
    with pytest.raises(openai.APIStatusError) as raised:
        worker.client().files.create(file=big, purpose="fine-tune")
    assert raised.value.status_code == 413 and raised.value.code == "file_too_large"


def test_file_names_never_touch_paths(worker: WorkerProcess, tmp_path: Path) -> None:
    client = worker.client()
    data = write_chat_jsonl(tmp_path / "train.jsonl").read_bytes()
    uploaded = client.files.create(file=("../../escape.jsonl", data), purpose="fine-tune")
    assert uploaded.filename == "../../escape.jsonl"
    assert not (worker.data_dir.parent / "escape.jsonl").exists()
    assert client.files.content(uploaded.id).content == data
    assert client.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.content(uploaded.id)


def test_bad_hyperparameters(worker: WorkerProcess, training_file_id: str) -> None:
    client = worker.client()
    for bad in ({"n_epochs": 0}, {"lora_r": "big"}, {"warmup": 3}):
        with pytest.raises(openai.BadRequestError) as raised:
            client.fine_tuning.jobs.create(
                model="tiny",
                training_file=training_file_id,
                method={"type": "supervised", "supervised": {"hyperparameters": bad}},  # type: ignore[typeddict-item]
            )
        assert raised.value.param == "method.supervised.hyperparameters"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(model="tiny", training_file=training_file_id, suffix="a b:c")


def test_not_ready_file_fails_in_validating_files(worker: WorkerProcess, tmp_path: Path) -> None:
    client = worker.client()
    path = tmp_path / "broken.jsonl"
    rows = [{"messages": [{"role": "user", "content": "only a question"}]}] * 12
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    uploaded = client.files.create(file=path, purpose="fine-tune")
    created = client.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id)
    job = wait_final(client, created.id)
    assert job.status == "failed" and job.error is not None
    assert job.error.code == "invalid_training_file" and job.error.param == "training_file"
    assert "not ready" in job.error.message and "line" in job.error.message
    assert job.trained_tokens is None and not job.result_files


def _dpo(hyperparameters: dict[str, object]) -> dict[str, object]:
    return {"type": "dpo", "dpo": {"hyperparameters": hyperparameters}}


def test_bad_dpo_requests(worker: WorkerProcess, training_file_id: str) -> None:
    client = worker.client()
    bad_values = ({"beta": 0}, {"beta": "high"}, {"sft_weight": -1}, {"n_epochs": 0}, {"gamma": 1})
    for bad in bad_values:
        with pytest.raises(openai.BadRequestError) as raised:
            client.fine_tuning.jobs.create(
                model="tiny",
                training_file=training_file_id,
                method=_dpo(bad),  # type: ignore[arg-type]
            )
        assert raised.value.param == "method.dpo.hyperparameters", bad
        assert raised.value.code == "invalid_hyperparameters"
    with pytest.raises(openai.BadRequestError) as raised:  # a DPO key on a supervised job
        client.fine_tuning.jobs.create(
            model="tiny",
            training_file=training_file_id,
            method={"type": "supervised", "supervised": {"hyperparameters": {"beta": 0.2}}},
        )
    assert "method 'dpo' only" in raised.value.message
    mismatched = {"type": "dpo", "supervised": {"hyperparameters": {"n_epochs": 2}}}
    with pytest.raises(openai.BadRequestError) as raised:
        client.fine_tuning.jobs.create(
            model="tiny",
            training_file=training_file_id,
            method=mismatched,  # type: ignore[arg-type]
        )
    assert raised.value.param == "method.supervised"
    for method in (
        {"type": "reinforcement"},
        {"type": "dpo", "dpo": {"hyperparameters": {}, "x": 1}},
    ):
        with pytest.raises(openai.BadRequestError):
            client.fine_tuning.jobs.create(
                model="tiny",
                training_file=training_file_id,
                method=method,  # type: ignore[arg-type]
            )
    with pytest.raises(openai.BadRequestError) as raised:  # no such fine-tuned model to continue
        client.fine_tuning.jobs.create(model="ft:tiny::0123abcd", training_file=training_file_id)
    assert raised.value.param == "model" and "ft:" in raised.value.message


def test_files_must_suit_the_method(
    worker: WorkerProcess, training_file_id: str, tmp_path: Path
) -> None:
    client = worker.client()
    path = tmp_path / "pairs.jsonl"
    pair = {
        "input": {"messages": [{"role": "user", "content": "Capital of France?"}]},
        "preferred_output": [{"role": "assistant", "content": "Paris"}],
        "non_preferred_output": [{"role": "assistant", "content": "London"}],
    }
    path.write_text((json.dumps(pair) + "\n") * 12)
    pairs = client.files.create(file=path, purpose="fine-tune").id
    chat_as_dpo = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=training_file_id,
        method=_dpo({}),  # type: ignore[arg-type]
    )
    pairs_as_sft = client.fine_tuning.jobs.create(model="tiny", training_file=pairs)
    for created, needed in ((chat_as_dpo, "needs a preference file"), (pairs_as_sft, '"dpo"')):
        job = wait_final(client, created.id)
        assert job.status == "failed" and job.error is not None
        assert job.error.code == "invalid_training_file" and needed in job.error.message
