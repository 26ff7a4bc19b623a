"""Provider events -> metric points, queue position and start time."""

from __future__ import annotations

from dataclasses import dataclass

from core.training.events import digest, metric_point
from core.training.events import from_timestamp as ts


@dataclass
class Event:
    id: str
    created_at: int
    message: str
    data: object | None = None
    type: str | None = "message"


def test_metrics_events_become_points_with_provider_specific_names() -> None:
    events = [
        Event("e1", 100, "Validating training file"),
        Event("e2", 110, "Fine-tuning job is queued, position in queue: 4"),
        Event("e3", 170, "Fine-tuning job started"),
        Event(
            "e4",
            180,
            "Step 1/10: training loss=2.1",
            {"step": 1, "total_steps": 10, "train_loss": 2.1},
            "metrics",
        ),
        Event(
            "e5",
            190,
            "Step 2/10",
            {
                "step": 2,
                "total_steps": 10,
                "loss": 1.9,
                "eval_loss": 2.0,
                "epoch": 0.2,
                "tokens_per_second": 812.5,
            },
            "metrics",
        ),
    ]
    facts = digest(events)
    assert facts.newest_event_id == "e5"
    assert facts.queue_position == 4
    assert facts.started_at == ts(170)
    assert [(p.step, p.train_loss, p.valid_loss) for p in facts.points] == [
        (1, 2.1, None),
        (2, 1.9, 2.0),
    ]
    assert facts.points[1].epoch == 0.2 and facts.points[1].tokens_per_second == 812.5


def test_metrics_without_a_usable_step_are_ignored() -> None:
    assert metric_point({"train_loss": 1.0}, reported_at=ts(1)) is None
    assert metric_point({"step": True, "train_loss": 1.0}, reported_at=ts(1)) is None
    assert metric_point({"step": -1}, reported_at=ts(1)) is None
    point = metric_point({"step": 3, "total_steps": 0, "train_loss": "nan"}, reported_at=ts(1))
    assert point is not None and point.total_steps is None and point.train_loss is None


def test_no_events_changes_nothing() -> None:
    facts = digest([])
    assert facts.points == [] and facts.newest_event_id is None and facts.queue_position is None
