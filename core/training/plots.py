"""The loss-curve PNG posted with a finished job.

Slack shows images in a thread as a thumbnail about 360 px wide, so the figure
is small (6x3.6 in at 100 dpi -> 600x360 px) with large fonts and thick lines:
shrunk to the preview it is still readable. Agg renders without a display and
is safe from the scheduler's worker threads (one figure object per call, no
pyplot global state).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.training.progress import Point

_FONT = 15


def loss_curve_png(points: Sequence[Point], *, title: str) -> bytes:
    """Render train and validation loss by step as PNG bytes.

    Parameters:
        points: metric points in step order; steps without a value are skipped.
        title: shown above the plot (keep it short: model or job id).

    Raises:
        ValueError: when no point has a training or validation loss.
    """
    train = [(p.step, p.train_loss) for p in points if p.train_loss is not None]
    valid = [(p.step, p.valid_loss) for p in points if p.valid_loss is not None]
    if not train and not valid:
        raise ValueError("no loss values to plot")
    figure = Figure(figsize=(6, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if train:
        axes.plot(*zip(*train, strict=True), label="train", linewidth=2.5, color="#1f77b4")
    if valid:
        axes.plot(
            *zip(*valid, strict=True),
            label="valid",
            linewidth=2.5,
            color="#d62728",
            marker="o" if len(valid) < 30 else None,
            markersize=5,
        )
    axes.set_title(title[:48], fontsize=_FONT)
    axes.set_xlabel("step", fontsize=_FONT)
    axes.set_ylabel("loss", fontsize=_FONT)
    axes.tick_params(labelsize=_FONT - 3)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=_FONT - 2, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
