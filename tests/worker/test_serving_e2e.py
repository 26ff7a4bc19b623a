"""Chat serving on two real workers: batched (``TUNEBOT_WORKER_MAX_BATCH_SIZE=8``)
and one at a time (``--max-batch-size 1 --docs``), both on the tiny model.

Greedy answers must not depend on what else shares the batch, so every
comparison here is batched-versus-unbatched on the same requests, sent
concurrently to both.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.worker.harness import (
    API_KEY,
    FAST_HYPERPARAMETERS,
    QA,
    WorkerProcess,
    chat_prompt,
    wait_final,
    wait_for,
    write_chat_jsonl,
)


def _start(root: Path, model_dir: Path, **options: Any) -> WorkerProcess:
    return WorkerProcess(root / "data", model_dir, root / "worker.log", **options).start()


@pytest.fixture(scope="module")
def batched(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[WorkerProcess]:
    process = _start(
        tmp_path_factory.mktemp("batched"),
        tiny_model_dir,
        env={"TUNEBOT_WORKER_MAX_BATCH_SIZE": "8"},
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def unbatched(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path
) -> Iterator[WorkerProcess]:
    process = _start(
        tmp_path_factory.mktemp("unbatched"),
        tiny_model_dir,
        args=["--max-batch-size", "1", "--docs"],
    )
    yield process
    process.stop()


def _health(worker: WorkerProcess) -> dict[str, Any]:
    health: dict[str, Any] = httpx.get(worker.base_url + "/healthz", timeout=30).json()
    return health


def _ask(client: OpenAI, request: dict[str, Any]) -> Any:
    return client.chat.completions.create(model="tiny", **request)


def _concurrently(client: OpenAI, requests: list[dict[str, Any]]) -> list[Any]:
    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(lambda r: _ask(client, r), requests))


def _summary(reply: Any) -> tuple[str, str, int, int]:
    choice = reply.choices[0]
    usage = reply.usage
    return (
        choice.message.content,
        choice.finish_reason,
        usage.prompt_tokens,
        usage.completion_tokens,
    )


def _stream_text(client: OpenAI, request: dict[str, Any]) -> tuple[str, str | None]:
    chunks = list(client.chat.completions.create(model="tiny", stream=True, **request))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks[-1].choices[0].finish_reason


def test_batched_greedy_answers_equal_unbatched_ones(
    batched: WorkerProcess, unbatched: WorkerProcess
) -> None:
    reference = _ask(unbatched.client(), {"messages": chat_prompt(QA[0][0]), "temperature": 0})
    text = reference.choices[0].message.content
    assert len(text) > 12, text
    stop = text[6:9]  # a piece of the answer: it must end there in both
    requests = [
        {
            "messages": chat_prompt(question),
            "temperature": 0,
            "max_tokens": 3 + 5 * i,  # different lengths: some finish while others go on
            **({"stop": [stop, "never-seen"]} if i % 4 == 0 else {}),
        }
        for i, (question, _) in enumerate((QA * 2)[:16])
    ]
    before = _health(batched)["serving"]
    together = _concurrently(batched.client(), requests)
    alone = _concurrently(unbatched.client(), requests)

    assert [_summary(r) for r in together] == [_summary(r) for r in alone]
    assert together[0].choices[0].message.content == text[: text.index(stop)]
    assert together[0].choices[0].finish_reason == "stop"
    assert [r.usage.completion_tokens for r in together[1:4]] == [8, 13, 18]
    after = _health(batched)["serving"]
    assert after["backend"] == "hf" and after["max_batch_size"] == 8
    assert after["largest_batch"] > 1 and after["batches"] - before["batches"] < 16
    assert _health(unbatched)["serving"]["largest_batch"] == 1


def test_late_requests_join_a_running_batch(
    batched: WorkerProcess, unbatched: WorkerProcess
) -> None:
    client = batched.client()
    long = {"messages": chat_prompt(QA[5][0]), "temperature": 0, "max_tokens": 300}
    late = [
        {"messages": chat_prompt(q), "temperature": 0, "max_tokens": 6 + 2 * i}
        for i, (q, _) in enumerate(QA[:7])
    ]
    before = _health(batched)["serving"]
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(_ask, client, long)
        wait_for(lambda: _health(batched)["serving"]["active_requests"] == 1, interval=0.02)
        joined = list(pool.map(lambda r: _ask(client, r), late))
        assert not first.done()  # they joined while the long answer was still running
        together = [first.result(), *joined]
    after = _health(batched)["serving"]
    assert after["batches"] - before["batches"] == 1  # one batch, the others joined it
    assert after["largest_batch"] >= 2
    alone = [_ask(unbatched.client(), r) for r in [long, *late]]
    assert [_summary(r) for r in together] == [_summary(r) for r in alone]


def test_streams_hold_back_stop_strings(batched: WorkerProcess) -> None:
    client = batched.client()
    full = _ask(client, {"messages": chat_prompt(QA[1][0]), "temperature": 0, "max_tokens": 30})
    text = full.choices[0].message.content
    stop = text[10:14]
    request = {
        "messages": chat_prompt(QA[1][0]),
        "temperature": 0,
        "max_tokens": 30,
        "stop": stop,
    }
    streamed, reason = _stream_text(client, request)
    assert streamed == text[: text.index(stop)] and reason == "stop"
    assert _stream_text(client, {**request, "stop": None})[0] == text
    for include, expected in ((True, True), (False, False), (None, True)):
        options = {} if include is None else {"stream_options": {"include_usage": include}}
        chunks = list(
            client.chat.completions.create(model="tiny", stream=True, **request, **options)
        )
        assert (chunks[-1].usage is not None) is expected


def test_seed_and_top_p_are_honoured(batched: WorkerProcess) -> None:
    client = batched.client()
    sampled = {"messages": chat_prompt(QA[2][0]), "temperature": 1.5, "max_tokens": 24}
    # Same seed, same answer, whatever else shares the batch.
    answers = _concurrently(
        client, [{**sampled, "seed": 7}, {**sampled, "seed": 7}, {**sampled, "seed": 8}]
    )
    first, again, other = (a.choices[0].message.content for a in answers)
    assert first == again == _ask(client, {**sampled, "seed": 7}).choices[0].message.content
    assert other != first
    # A nucleus this small keeps only the most likely token: sampling becomes greedy.
    greedy = _ask(client, {**sampled, "temperature": 0}).choices[0].message.content
    narrow = _ask(client, {**sampled, "top_p": 1e-9, "seed": 3}).choices[0].message.content
    assert narrow == greedy != first


def test_logprobs_in_openai_shape(batched: WorkerProcess) -> None:
    client = batched.client()
    reply = _ask(
        client,
        {
            "messages": chat_prompt(QA[3][0]),
            "temperature": 0,
            "max_tokens": 12,
            "logprobs": True,
            "top_logprobs": 3,
        },
    )
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens == 12
    raw = b"".join(bytes(token.bytes) for token in content)
    assert raw.decode("utf-8", errors="replace") == reply.choices[0].message.content
    for token in content:
        assert token.logprob <= 0 and len(token.top_logprobs) == 3
        best = token.top_logprobs[0]
        assert (best.token, best.logprob) == (token.token, token.logprob)  # greedy = argmax
        ranked = [t.logprob for t in token.top_logprobs]
        assert ranked == sorted(ranked, reverse=True)
    plain = _ask(client, {"messages": chat_prompt(QA[3][0]), "temperature": 0, "max_tokens": 12})
    assert plain.choices[0].logprobs is None
    assert plain.choices[0].message.content == reply.choices[0].message.content

    stream = client.chat.completions.create(
        model="tiny",
        messages=chat_prompt(QA[3][0]),
        temperature=0,
        max_tokens=12,
        logprobs=True,
        stream=True,
    )
    streamed = [
        t
        for c in stream
        if c.choices and c.choices[0].logprobs
        for t in c.choices[0].logprobs.content
    ]
    assert [(t.token, t.logprob) for t in streamed] == [(t.token, t.logprob) for t in content]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"n": 2}, "n"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"seed": 2**64}, "seed"),
        ({"top_p": 0}, "top_p"),
    ],
)
def test_unsupported_parameters_are_refused_by_name(
    batched: WorkerProcess, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        _ask(batched.client(), {"messages": chat_prompt("hi"), **extra})
    assert raised.value.param == param and param in raised.value.message


def test_non_text_parts_and_message_extras_are_refused(batched: WorkerProcess) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with_image = [{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}]
    named = [{"role": "user", "content": "hi", "name": "bob"}]
    for messages, param in [
        (with_image, "messages[0].content[1].type"),
        (named, "messages[0].name"),
    ]:
        with pytest.raises(openai.BadRequestError) as raised:
            _ask(batched.client(), {"messages": messages})
        assert raised.value.param == param
    parts = [{"type": "text", "text": "Capital of "}, {"type": "text", "text": "France?"}]
    greedy = {"temperature": 0, "max_tokens": 5}
    joined = _ask(batched.client(), {"messages": [{"role": "user", "content": parts}], **greedy})
    whole = [{"role": "user", "content": "Capital of France?"}]
    plain = _ask(batched.client(), {"messages": whole, **greedy})
    assert _summary(joined) == _summary(plain)


def _cut_stream(worker: WorkerProcess, request: dict[str, Any]) -> None:
    """Open a stream, read its first event, and hang up, as a closed browser tab does."""
    body = json.dumps({"model": "tiny", "stream": True, **request}).encode()
    with socket.create_connection(("127.0.0.1", worker.port)) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        received = b""
        while b"data: " not in received:
            received += sock.recv(4096)
        assert b" 200 " in received.split(b"\r\n")[0]


def test_abandoned_streams_stop_generating(batched: WorkerProcess) -> None:
    client = batched.client()
    long = {"messages": chat_prompt(QA[4][0]), "temperature": 0, "max_tokens": 900}
    whole = _ask(client, long)  # the uncut answer really is 900 tokens long
    assert whole.usage.completion_tokens == 900 and whole.choices[0].finish_reason == "length"

    before = _health(batched)["serving"]
    for _ in range(3):
        _cut_stream(batched, long)
    settled = wait_for(
        lambda: (h := _health(batched)["serving"])["active_requests"] == 0 and h,
        timeout=60,
        what="the cut streams to stop",
    )
    assert settled["cancelled_requests"] - before["cancelled_requests"] == 3
    spent = settled["generated_tokens"] - before["generated_tokens"]
    print(f"3 streams cut after their first event generated {spent} tokens in all (uncut: 2,700)")
    assert spent < 900, f"3 cut streams generated {spent} tokens"  # uncut: 2,700

    short = _ask(client, {"messages": chat_prompt("hi"), "temperature": 0, "max_tokens": 4})
    assert short.usage.completion_tokens <= 4
    assert _health(batched)["serving"]["generated_tokens"] - settled["generated_tokens"] <= 4


def test_a_client_that_gives_up_on_a_plain_request_cancels_it(batched: WorkerProcess) -> None:
    before = _health(batched)["serving"]
    long = {"messages": chat_prompt(QA[4][0]), "temperature": 0, "max_tokens": 900}
    impatient = OpenAI(
        base_url=batched.base_url + "/v1", api_key=API_KEY, max_retries=0, timeout=0.5
    )
    with pytest.raises(openai.APITimeoutError):
        _ask(impatient, long)
    settled = wait_for(
        lambda: (
            (h := _health(batched)["serving"])["cancelled_requests"] > before["cancelled_requests"]
            and h["active_requests"] == 0
            and h
        ),
        timeout=60,
        what="the abandoned request to be cancelled",
    )
    assert settled["cancelled_requests"] - before["cancelled_requests"] == 1
    assert settled["generated_tokens"] - before["generated_tokens"] < 900
    assert "Traceback" not in batched.log_path.read_text()  # a client leaving is no error


def test_healthz_answers_under_load_and_names_no_job(batched: WorkerProcess) -> None:
    request = {"messages": chat_prompt("Name a pet."), "temperature": 0, "max_tokens": 64}
    client = batched.client()
    with ThreadPoolExecutor(60) as pool:
        pending = [pool.submit(_ask, client, request) for _ in range(60)]
        seen = wait_for(
            lambda: (h := _health(batched))["serving"]["queued_requests"] > 0 and h,
            timeout=60,
            interval=0.05,
            what="chats to queue up",
        )
        answers = [p.result() for p in pending]
    assert {a.choices[0].message.content for a in answers} == {
        answers[0].choices[0].message.content
    }
    assert seen["status"] == "ok" and seen["training"] is False
    assert "running_job" not in seen and "ftjob" not in json.dumps(seen)


def test_healthz_names_no_running_job(batched: WorkerProcess, tmp_path: Path) -> None:
    client = batched.client()
    training = client.files.create(
        file=write_chat_jsonl(tmp_path / "train.jsonl"), purpose="fine-tune"
    )
    hyperparameters = {**FAST_HYPERPARAMETERS, "max_steps": 400, "checkpoint_steps": 0}
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=training.id,
        method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},  # type: ignore[typeddict-item]
    )
    try:
        health = wait_for(
            lambda: (h := _health(batched))["training"] and h, what="the job to start training"
        )
        assert job.id not in json.dumps(health) and "running_job" not in health
        assert health["queue_length"] == 0
    finally:
        client.fine_tuning.jobs.cancel(job.id)
        wait_final(client, job.id)


def test_docs_need_the_key_unless_opened(batched: WorkerProcess, unbatched: WorkerProcess) -> None:
    for path in ("/docs", "/openapi.json"):
        refused = httpx.get(batched.base_url + path)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "missing_api_key"
        keyed = httpx.get(batched.base_url + path, headers={"Authorization": f"Bearer {API_KEY}"})
        assert keyed.status_code == 200
        assert httpx.get(unbatched.base_url + path).status_code == 200  # --docs
    schema = httpx.get(
        batched.base_url + "/openapi.json", headers={"Authorization": f"Bearer {API_KEY}"}
    ).json()
    assert "/v1/chat/completions" in schema["paths"]
    page = httpx.get(batched.base_url + "/docs", headers={"Authorization": f"Bearer {API_KEY}"})
    assert "/v1/chat/completions" in page.text  # the schema travels inside the page
    assert httpx.get(batched.base_url + "/redoc").status_code in (401, 404)
