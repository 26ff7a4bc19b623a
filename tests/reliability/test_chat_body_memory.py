"""Over-long chat requests are refused before they cost memory (issue #10).

Before the fix, 4 MB of message content took the worker from its idle size up
by 807 MB (the whole prompt was tokenised before the context check) and a
150 MB body got it killed by the kernel. Now: the body limit answers 413 from
``Content-Length`` (or as soon as a chunked body passes it), and under the
limit a bound from the text's length refuses what cannot fit before
tokenising. RSS is read from the real worker process with psutil; the figures
are printed (``pytest -s``).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import psutil
import pytest

from tests.worker.harness import API_KEY, WorkerProcess, chat_prompt

MB = 1_000_000


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    from worker.tiny_model import write_tiny_model

    root = tmp_path_factory.mktemp("reliability")
    model = write_tiny_model(root / "model")
    process = WorkerProcess(root / "data", model, root / "worker.log").start()
    # Warm up: the model is loaded and one chat served before anything is measured.
    process.client().chat.completions.create(model="tiny", messages=chat_prompt("hi"), max_tokens=2)
    yield process
    process.stop()


def _rss_mb(worker: WorkerProcess) -> float:
    assert worker.process is not None
    return psutil.Process(worker.process.pid).memory_info().rss / 2**20


def _report(case: str, before: float, after: float) -> float:
    print(f"\n{case}: worker RSS {before:.0f} MiB before, {after:.0f} MiB after "
          f"({after - before:+.0f} MiB)")  # fmt: skip
    return after - before


def test_four_megabytes_of_content_is_refused_before_tokenising(worker: WorkerProcess) -> None:
    before = _rss_mb(worker)
    with pytest.raises(openai.BadRequestError) as raised:
        worker.client().chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "word " * (4 * MB // 5)}]
        )
    message = raised.value.message
    assert "at least" in message and "exceeds the model's context" in message
    growth = _report("4 MB of content (under the body limit)", before, _rss_mb(worker))
    assert growth < 100  # before the fix: +807 MiB
    # The worker still answers.
    reply = worker.client().chat.completions.create(
        model="tiny", messages=chat_prompt("hi"), max_tokens=2
    )
    assert reply.usage is not None and reply.usage.completion_tokens >= 1


def test_a_150_mb_body_is_refused_from_its_length(worker: WorkerProcess) -> None:
    before = _rss_mb(worker)
    size = 150 * MB
    with socket.create_connection(("127.0.0.1", worker.port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n".encode()
            + f"Content-Length: {size}\r\n\r\n".encode()
            + b'{"model": "tiny", "messages": [{"role": "user", "content": "'
            + b"x" * MB  # the first megabyte; the answer comes without the rest
        )
        answer = b""
        while b"}}" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"request_too_large" in body
    assert b"TUNEBOT_WORKER_MAX_CHAT_BYTES" in body
    growth = _report("150 MB body with Content-Length", before, _rss_mb(worker))
    assert growth < 50  # before the fix: killed by the kernel


def test_a_150_mb_chunked_body_is_cut_off_at_the_limit(worker: WorkerProcess) -> None:
    before = _rss_mb(worker)
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"model": "tiny", "messages": [{"role": "user", "content": "'
        for _ in range(150):
            sent += MB
            yield b"x" * MB
        yield b'"}]}'

    try:
        response = httpx.post(
            worker.base_url + "/v1/chat/completions",
            content=body(),
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
            timeout=120,
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"
    except httpx.TransportError:
        pass  # the worker answered 413 and closed while the client was still sending
    growth = _report(f"chunked body ({sent // MB} MB sent)", before, _rss_mb(worker))
    assert growth < 50
    assert httpx.get(worker.base_url + "/healthz").status_code == 200


def test_the_limit_is_a_setting(tmp_path: Path, worker: WorkerProcess) -> None:
    small = WorkerProcess(
        tmp_path / "data",
        worker.model_dir,
        tmp_path / "worker.log",
        env={"TUNEBOT_WORKER_MAX_CHAT_BYTES": "4096"},
    ).start()
    try:
        with pytest.raises(openai.APIStatusError) as raised:
            small.client().chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "x" * 5000}]
            )
        assert raised.value.status_code == 413
        assert "4,096 bytes" in raised.value.message
    finally:
        small.stop()
