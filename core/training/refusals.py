"""Providers that refused this organisation: after a permission-denied failure the
bot stops offering them, until a later job there succeeds.

Derived from the job rows (the last finished job per provider), so it survives
restarts and needs no table of its own.
"""

from __future__ import annotations

import json

from sqlalchemy.engine import Engine

from core.store.jobs import last_outcomes
from core.training.milestones import PERMISSION, error_class


def refused_providers(engine: Engine) -> set[str]:
    """Providers whose last finished job failed with a permission error."""
    refused = set()
    for provider, job in last_outcomes(engine).items():
        if job.status != "failed" or not job.error_json:
            continue
        try:
            error = json.loads(job.error_json)
        except ValueError:
            continue
        if not isinstance(error, dict):
            continue
        if error_class(error.get("code"), error.get("message")) == PERMISSION:
            refused.add(provider)
    return refused


def offered_providers(engine: Engine, configured: list[str]) -> list[str]:
    """The configured providers people are offered, refused ones left out.

    The worker is never dropped: it is the way out of a provider's refusal.
    """
    refused = refused_providers(engine)
    return [name for name in configured if name == "worker" or name not in refused]
