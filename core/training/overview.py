"""A person's recent datasets and jobs, for their App Home tab."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from core.store.datasets import Dataset
from core.store.engine import session_scope
from core.store.jobs import TrainingJob


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
    with session_scope(engine) as session:
        datasets = session.exec(
            select(Dataset)
            .where(Dataset.uploader_id == user_id)
            .order_by(col(Dataset.id).desc())
            .limit(limit)
        ).all()
        jobs = session.exec(
            select(TrainingJob)
            .outerjoin(Dataset, col(Dataset.id) == col(TrainingJob.dataset_id))
            .where((TrainingJob.started_by == user_id) | (Dataset.uploader_id == user_id))
            .order_by(col(TrainingJob.id).desc())
            .limit(limit)
        ).all()
    return Overview(datasets=list(datasets), jobs=list(jobs))
