"""The file_share listener: parse, dedupe by event id, hand off to validation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import Mock

from slack_sdk import WebClient

from bot.flows.drop import parse_drop
from bot.listeners.events import handle_file_share
from core.store.datasets import ProcessedEvent, purge_events, record_event, utcnow
from core.store.engine import session_scope
from tests.bot.harness import ALICE, CHANNEL, unit_context


def _body(event_id: str = "Ev1", **event: Any) -> dict[str, Any]:
    base = {
        "type": "message",
        "subtype": "file_share",
        "user": ALICE,
        "channel": CHANNEL,
        "ts": "200.5",
        "files": [
            {
                "id": "F1",
                "name": "faq.jsonl",
                "size": 1234,
                "url_private_download": "https://files.slack.com/files-pri/T-F1/download/faq.jsonl",
            }
        ],
    }
    base.update(event)
    return {"event_id": event_id, "team_id": "T1", "event": base}


def test_parse_drop_reads_files_and_thread() -> None:
    drop = parse_drop(_body(thread_ts="100.0"))
    assert drop is not None
    assert drop.thread_ts == "100.0" and drop.ts == "200.5" and drop.user == ALICE
    assert [(f.id, f.size, f.name) for f in drop.files] == [("F1", 1234, "faq.jsonl")]


def test_parse_drop_ignores_bots_edits_and_empty_shares() -> None:
    assert parse_drop(_body(bot_id="B1")) is None
    assert parse_drop(_body(subtype="message_changed")) is None
    assert parse_drop(_body(files=[])) is None
    assert parse_drop(_body(files=[{"id": "F2", "mode": "tombstone"}])) is None


def test_first_delivery_is_queued_and_a_retry_is_not(tmp_path: Path) -> None:
    ctx = unit_context(tmp_path, client=Mock(WebClient))
    ctx.validation_pool = Mock(ThreadPoolExecutor)
    assert handle_file_share(ctx, _body("EvSAME")) is True
    assert handle_file_share(ctx, _body("EvSAME")) is False
    assert ctx.validation_pool.submit.call_count == 1
    assert handle_file_share(ctx, _body("EvOTHER")) is True
    assert handle_file_share(ctx, _body("EvBOT", bot_id="B1")) is False
    assert ctx.validation_pool.submit.call_count == 2


def test_old_event_ids_are_purged(tmp_path: Path) -> None:
    ctx = unit_context(tmp_path, client=Mock(WebClient))
    assert record_event(ctx.engine, event_id="EvOLD")
    with session_scope(ctx.engine) as session:
        old = session.get(ProcessedEvent, "EvOLD")
        assert old is not None
        old.received_at = utcnow() - timedelta(days=3)
        session.add(old)
    assert record_event(ctx.engine, event_id="EvNEW")
    assert purge_events(ctx.engine, older_than=timedelta(days=1)) == 1
    assert record_event(ctx.engine, event_id="EvOLD")  # forgotten, so recorded again
    assert not record_event(ctx.engine, event_id="EvNEW")
