"""Stored rows to the view models :mod:`bot.blocks` builds messages from.

Builders never see table rows: a column added or renamed in the store changes
this module, not the Block Kit. :func:`view_of` copies the fields a view shares
with its row by name, so each mapping below states only what it computes.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, TypeVar

from bot.blocks.ab import AbAnswer, AbCard
from bot.blocks.jobs import DatasetCard, JobCard, JobChoices
from core.store.datasets import Dataset
from core.store.evaluation import AbResponse, AbSession
from core.store.jobs import TrainingJob

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

V = TypeVar("V", bound="DataclassInstance")


def view_of(view: type[V], row: object, **computed: Any) -> V:
    """A ``view`` whose fields are ``computed``'s, or else the row's attributes of that name.

    Raises:
        AttributeError: the row has no such attribute (a renamed column fails here,
            in every test that renders the view, not as a blank in a message).
    """
    copied = {
        field.name: getattr(row, field.name)
        for field in dataclasses.fields(view)
        if field.name not in computed
    }
    return view(**copied, **computed)


def _error_message(error_json: str | None) -> str | None:
    if not error_json:
        return None
    try:
        error = json.loads(error_json)
    except ValueError:
        return error_json
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def job_card(job: TrainingJob) -> JobCard:
    """A stored job as its messages show it."""
    return view_of(
        JobCard,
        job,
        choices=JobChoices.from_json(job.options_json),
        error=_error_message(job.error_json),
    )


def dataset_card(dataset: Dataset) -> DatasetCard:
    return view_of(DatasetCard, dataset)


def ab_card(session: AbSession) -> AbCard:
    return view_of(AbCard, session, few_shot=bool(session.few_shot_prompt))


def ab_answer(response: AbResponse) -> AbAnswer:
    return view_of(AbAnswer, response)
