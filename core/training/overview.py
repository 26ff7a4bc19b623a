"""A person's recent datasets and jobs, for their App Home tab."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from core.store.datasets import Dataset, datasets_by_uploader
from core.store.jobs import TrainingJob, jobs_of_user


@dataclass(frozen=True)
class Overview:
    """What App Home lists for one viewer, newest first."""

    datasets: list[Dataset]
    jobs: list[TrainingJob]


def user_overview(engine: Engine, *, user_id: str, limit: int = 10) -> Overview:
    """The datasets ``user_id`` dropped and the jobs they started or that train their data.

    Parameters:
        user_id: the Slack user viewing App Home.
        limit: most rows of each kind (App Home shows at most 100 blocks).
    """
    return Overview(
        datasets=datasets_by_uploader(engine, user_id=user_id, limit=limit),
        jobs=jobs_of_user(engine, user_id=user_id, limit=limit),
    )
