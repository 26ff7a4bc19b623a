"""core.logs: JSON lines with ids, secrets redacted, ids carried into pool threads."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from core.config import load_settings
from core.logs import ContextThreadPoolExecutor, configure_logging, log_ids, setup_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_ids_set_around_them(stream: io.StringIO) -> None:
    configure_logging(log_format="json", stream=stream)
    log = logging.getLogger("tunebot.test")
    with log_ids(event_id="Ev1", request_id="r1"):
        with log_ids(job_id="42"):
            log.info("polled %d", 3)
        log.warning("after")
    log.info("outside")
    first, second, third = lines(stream)
    assert first["message"] == "polled 3" and first["level"] == "info"
    assert (first["event_id"], first["request_id"], first["job_id"]) == ("Ev1", "r1", "42")
    assert second["event_id"] == "Ev1" and "job_id" not in second
    assert {"event_id", "request_id", "job_id"}.isdisjoint(third)


def test_secret_settings_and_token_shapes_never_reach_a_line(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "plain-signing-value")
    monkeypatch.setenv("TUNEBOT_WORKER_API_KEY", "worker-key-abcdef")
    monkeypatch.setenv("TUNEBOT_LOG_FORMAT", "json")
    settings = load_settings()
    root = logging.getLogger()
    setup_logging(settings)
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]  # a StreamHandler
    log = logging.getLogger("tunebot.test")
    log.info("key %s and secret %s", "worker-key-abcdef", "plain-signing-value")
    log.info("echoed header Bearer abc.def and token xoxb-123-456-abcdefg, sk-proj-abcdefgh")
    try:
        raise RuntimeError("failed with worker-key-abcdef")
    except RuntimeError:
        log.exception("boom")
    text = stream.getvalue()
    for secret in ("worker-key-abcdef", "plain-signing-value", "abc.def", "xoxb-123", "sk-proj"):
        assert secret not in text
    assert text.count("[redacted]") >= 6 and "Traceback" in str(lines(stream)[-1]["exc"])


def test_text_format_shows_ids_in_brackets(stream: io.StringIO) -> None:
    configure_logging(log_format="text", stream=stream)
    with log_ids(job_id="7"):
        logging.getLogger("tunebot.test").info("hello")
    assert " INFO tunebot.test [job_id=7] hello" in stream.getvalue()


def test_default_format_is_json_off_a_terminal(stream: io.StringIO) -> None:
    configure_logging(stream=stream)  # StringIO is not a TTY
    logging.getLogger("tunebot.test").info("x")
    assert lines(stream)[0]["message"] == "x"


def test_context_pool_runs_tasks_with_the_submitters_ids() -> None:
    from core.logs import current_ids

    with ContextThreadPoolExecutor(1) as pool, log_ids(event_id="Ev9"):
        assert pool.submit(current_ids).result() == {"event_id": "Ev9"}
