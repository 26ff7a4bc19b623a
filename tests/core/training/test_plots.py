"""The loss-curve PNG: a real image at Slack's preview size, with both curves."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from matplotlib.image import imread

from core.store.progress import NewPoint
from core.training.plots import loss_curve_png

T0 = datetime(2026, 11, 26, tzinfo=UTC)


def test_png_is_600x360_with_train_and_valid_lines() -> None:
    pts = [
        NewPoint(
            step=s,
            total_steps=40,
            epoch=None,
            train_loss=3 / s,
            valid_loss=3.2 / s if s % 10 == 0 else None,
            tokens_per_second=None,
            reported_at=T0,
        )
        for s in range(1, 41)
    ]
    png = loss_curve_png(pts, title="Loss, job-0001")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(io.BytesIO(png))
    assert image.shape[:2] == (360, 600)
    # the red validation line is drawn: some pixels are strongly red
    red = (image[..., 0] > 0.7) & (image[..., 1] < 0.3) & (image[..., 2] < 0.3)
    blue = (image[..., 2] > 0.6) & (image[..., 0] < 0.3)
    assert red.sum() > 50 and blue.sum() > 50


def test_nothing_to_plot_is_an_error() -> None:
    pts = [
        NewPoint(
            step=1,
            total_steps=1,
            epoch=None,
            train_loss=None,
            valid_loss=None,
            tokens_per_second=None,
            reported_at=T0,
        )
    ]
    with pytest.raises(ValueError, match="no loss"):
        loss_curve_png(pts, title="x")
