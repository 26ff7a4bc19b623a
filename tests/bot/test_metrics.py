"""bot.metrics: request kinds and labels stay bounded (no ids become series)."""

from __future__ import annotations

from bot.metrics import BotMetrics, request_kind


def test_request_kinds() -> None:
    assert request_kind({"type": "event_callback", "event": {"type": "message"}}) == "message"
    assert request_kind({"command": "/finetune", "text": "help"}) == "command"
    assert request_kind({"type": "block_actions"}) == "block_actions"
    # Anything odd (ids, text, injected label syntax) collapses into one series.
    assert request_kind({"type": 'x"} evil{'}) == "other"
    assert request_kind({"type": "event_callback", "event": {"type": "U" + "9" * 60}}) == "other"


def test_validations_land_on_the_registry() -> None:
    metrics = BotMetrics()
    metrics.validated(verdict="ready", seconds=1.5, size_bytes=2048)
    metrics.validated(verdict="../../etc", seconds=0.1, size_bytes=-5)
    text = metrics.exposition().decode()
    assert 'tunebot_validations_total{verdict="ready"} 1.0' in text
    assert 'tunebot_validations_total{verdict="other"} 1.0' in text
    assert "tunebot_validation_bytes_total 2048.0" in text
    assert "tunebot_validation_seconds_count 2.0" in text
