"""What A/B model calls cost, counted toward the monthly budget with training.

Why: an A/B test on OpenAI or Azure pays for every answer, so
``TUNEBOT_MONTHLY_BUDGET_USD`` must see those calls too. Each answer's
tokens are stored with it; their price per 1M tokens comes from
``TUNEBOT_INFERENCE_PRICES``. The worker runs on the team's own GPUs and
costs nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.engine import Engine

from core.config import Settings
from core.errors import EvaluationError
from core.store.ab import model_call_tokens
from core.store.datasets import utcnow
from core.store.jobs import month_spend_usd

FREE_PROVIDERS = frozenset({"worker"})


def month_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def model_call_spend_usd(engine: Engine, *, settings: Settings) -> float:
    """This calendar month's (UTC) A/B model-call cost; unpriced models count 0.

    Unpriced calls can only have been made without a budget (they are refused
    with one), so leaving them out never hides spend the cap was guarding.
    """
    total = 0.0
    for provider, model, tokens in model_call_tokens(engine, since=month_start()):
        price = settings.inference_prices.get(model)
        if provider not in FREE_PROVIDERS and price is not None:
            total += tokens / 1_000_000 * price
    return total


def check_model_call_budget(
    engine: Engine, *, settings: Settings, calls: Iterable[tuple[str, str]]
) -> None:
    """Refuse new model calls (``(provider, model)`` pairs) when the month's budget is spent.

    Raises:
        EvaluationError: a budget is set and this month's training and A/B
            spend has reached it, or a paid model has no inference price.
    """
    cap = settings.monthly_budget_usd
    if cap is None:
        return
    unpriced = sorted(
        model
        for provider, model in calls
        if provider not in FREE_PROVIDERS and model not in settings.inference_prices
    )
    if unpriced:
        raise EvaluationError(
            f"A monthly budget is set and {', '.join(unpriced)} has no inference price, so "
            "its answers cannot be counted.",
            hint="Ask an admin to set its price in TUNEBOT_INFERENCE_PRICES.",
        )
    spent = month_spend_usd(engine) + model_call_spend_usd(engine, settings=settings)
    if spent >= cap:
        raise EvaluationError(
            f"This month's estimated spend (${spent:,.2f}, training and A/B answers) has "
            f"reached the ${cap:,.2f} monthly budget, so no more answers are generated.",
            hint="Ask an admin to raise TUNEBOT_MONTHLY_BUDGET_USD, or compare models on "
            "the worker.",
        )
