"""Shared dataset storage: a folder, and s3:// on a real S3-compatible server (moto, loopback).

The replica case in miniature: one "replica" takes a file in with its own data
dir, another with a different data dir starts the job from it; the bytes the
provider receives are the validated file, read from the bucket.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import s3fs
from openai import OpenAI
from sqlalchemy.engine import Engine

from core.config import Settings
from core.datasets.intake import Origin, take_in
from core.errors import ConfigError
from core.providers import Provider
from core.storage import SharedStorage
from core.store.engine import create_db_engine, init_db
from core.training.start import JobOptions, StartRequest, claim_job, launch_job
from tests.fakes.openai_api import FakeOpenAI
from tests.s3 import S3_BUCKET

MODEL = "gpt-4o-mini-2024-07-18"


def _rows(count: int) -> bytes:
    return "".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"Question {i}?"},
                    {"role": "assistant", "content": f"Answer {i}."},
                ]
            }
        )
        + "\n"
        for i in range(count)
    ).encode()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    init_db(engine)
    return engine


def _settings(data_dir: Path, **values: object) -> Settings:
    return Settings(_env_file=None, TUNEBOT_DATA_DIR=data_dir, **values)  # type: ignore[call-arg]


def _take_in(engine: Engine, settings: Settings, content: bytes, name: str = "faq.jsonl"):  # type: ignore[no-untyped-def]
    def fetch(path: Path) -> int:
        path.write_bytes(content)
        return len(content)

    origin = Origin(
        source_id="F0SHARED", file_name=name, uploader_id="U1", channel_id="C1", thread_ts="1.0"
    )
    return take_in(engine, settings=settings, origin=origin, fetch=fetch)


def _start(
    engine: Engine, settings: Settings, fake: FakeOpenAI, dataset_id: int, **options: object
):  # type: ignore[no-untyped-def]
    client = OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)
    providers = {"openai": Provider(name="openai", client=client)}
    request = StartRequest(
        request_id=f"view:{dataset_id}:{len(options)}",
        dataset_id=dataset_id,
        options=JobOptions(provider="openai", base_model=MODEL, **options),  # type: ignore[arg-type]
        user_id="U1",
    )
    job = claim_job(engine, request, settings=settings, providers=providers)
    return launch_job(engine, job, settings=settings, providers=providers)


def test_s3_storage_is_what_another_replica_starts_from(
    engine: Engine, tmp_path: Path, s3_env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    url = f"s3://{S3_BUCKET}/tunebot"
    first = _settings(tmp_path / "replica-a", TUNEBOT_STORAGE_URL=url)
    second = _settings(tmp_path / "replica-b", TUNEBOT_STORAGE_URL=url)
    # A CSV is converted, so the fixed JSONL (not the CSV) is what jobs train on.
    csv = b"prompt,completion\n" + b"".join(b"Q%d?,A%d.\n" % (i, i) for i in range(12))
    intake = _take_in(engine, first, csv, name="faq.csv")

    location = intake.dataset.training_path
    assert location is not None and location.startswith(f"{url}/datasets/F0SHARED-")
    assert location.endswith("/faq.fixed.jsonl") and intake.fixed == location
    bucket = s3fs.S3FileSystem(endpoint_url=s3_env["AWS_ENDPOINT_URL"])
    stored = bucket.cat_file(location.removeprefix("s3://"))
    assert stored.count(b"\n") == 12
    # Nothing of it on either replica's disk.
    assert not list(tmp_path.glob("replica-*/**/*.jsonl"))

    job = _start(engine, second, fake_openai, intake.dataset.id, validation_split=0.25)
    assert job.status not in ("failed", "starting") and job.training_file_id
    sent = fake_openai.file_content(job.training_file_id)
    held = fake_openai.file_content(job.validation_file_id or "")
    assert sent.count(b"\n") + held.count(b"\n") == 12 and held.count(b"\n") == 3
    # The split is kept in the bucket for the held-out evaluation after training.
    split = SharedStorage(url).location(f"jobs/{job.short_id}/validation.jsonl")
    assert bucket.cat_file(split.removeprefix("s3://")) == held
    assert not list(tmp_path.glob("replica-*/**/*.jsonl"))


def test_a_file_gone_from_storage_fails_the_start_with_what_to_do(
    engine: Engine, tmp_path: Path, s3_env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    settings = _settings(tmp_path / "data", TUNEBOT_STORAGE_URL=f"s3://{S3_BUCKET}/gone")
    intake = _take_in(engine, settings, _rows(12))
    bucket = s3fs.S3FileSystem(endpoint_url=s3_env["AWS_ENDPOINT_URL"])
    bucket.rm(str(intake.dataset.training_path).removeprefix("s3://"))
    with pytest.raises(Exception, match="no longer stored") as caught:
        _start(engine, settings, fake_openai, intake.dataset.id)
    assert "Drop the file again" in caught.value.user_message()  # type: ignore[attr-defined]
    assert fake_openai.files() == []


def test_default_storage_is_the_data_dir(engine: Engine, tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data")
    intake = _take_in(engine, settings, _rows(12))
    path = Path(str(intake.dataset.training_path))
    assert path.is_file() and path.is_relative_to((tmp_path / "data" / "datasets").resolve())
    assert intake.fixed is None  # a clean chat file is trained on as dropped
    with SharedStorage.from_settings(settings).local_copy(str(path)) as local:
        assert local == path  # a folder is read in place, never copied


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://bucket/x", "folder path, file://path or s3://bucket/prefix"),
        ("s3://", "needs a bucket"),
    ],
)
def test_bad_storage_url_is_named(value: str, expected: str) -> None:
    from core.config import load_settings

    with pytest.raises(ConfigError, match="TUNEBOT_STORAGE_URL") as caught:
        load_settings(_env_file=None, TUNEBOT_STORAGE_URL=value)
    assert expected in str(caught.value)
