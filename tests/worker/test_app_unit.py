"""The app in-process (TestClient), with auth swapped through dependency_overrides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from worker.app import create_app
from worker.deps import require_api_key
from worker.settings import WorkerConfig


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    config = WorkerConfig(data_dir=tmp_path, models={"tiny": str(tmp_path / "m")}, api_key="k")
    app = create_app(config)
    app.dependency_overrides[require_api_key] = lambda: None
    with TestClient(app) as test_client:
        yield test_client


def test_overridden_auth_lets_requests_through(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body == {
        "object": "list",
        "data": [{"id": "tiny", "object": "model", "created": body["data"][0]["created"],
                  "owned_by": "tunebot-worker", "root": body["data"][0]["root"]}],
        "has_more": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("path", "payload", "param"),
    [
        ("/v1/fine_tuning/jobs", {"training_file": "file-x"}, "model"),
        ("/v1/fine_tuning/jobs", {"model": "tiny", "training_file": "f", "bogus": 1}, "bogus"),
        ("/v1/chat/completions", {"model": "tiny", "messages": []}, "messages"),
        ("/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user"}], "n": 2}, "n"),
    ],
)
def test_invalid_bodies_are_openai_400s(
    client: TestClient, path: str, payload: dict[str, object], param: str
) -> None:
    response = client.post(path, json=payload)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_malformed_json_is_a_400(client: TestClient) -> None:
    response = client.post(
        "/v1/fine_tuning/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and set(response.json()["error"]) == {
        "message", "type", "param", "code"
    }  # fmt: skip


def test_pages_follow_the_after_cursor(client: TestClient, tmp_path: Path) -> None:
    ids = []
    for i in range(5):
        files = {"file": (f"f{i}.jsonl", b'{"text": "x"}\n')}
        uploaded = client.post("/v1/files", files=files, data={"purpose": "fine-tune"})
        ids.append(uploaded.json()["id"])
    first = client.get("/v1/files", params={"limit": 2}).json()
    assert [f["id"] for f in first["data"]] == ids[::-1][:2] and first["has_more"]
    rest = client.get("/v1/files", params={"limit": 10, "after": first["data"][-1]["id"]}).json()
    assert [f["id"] for f in rest["data"]] == ids[::-1][2:] and not rest["has_more"]
