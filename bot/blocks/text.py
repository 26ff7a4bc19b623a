"""User-facing wording shared by the builders, and what the bot adds to what core reports.

Core errors and failure hints carry a :class:`core.errors.NextStep` instead of
a command; this module says each one as a ``/finetune`` command (or a button),
so Slack wording lives in the bot only. The names people see for providers,
verdicts and votes are here once, so every message says them the same way.
"""

from __future__ import annotations

from bot.blocks.mrkdwn import escape
from core.errors import NextStep, TunebotError
from core.training.milestones import FailureHint

INTERNAL_ERROR = "Something went wrong on our side; the error is logged for the admins."

PROVIDER_NAMES = {"worker": "the worker", "openai": "OpenAI", "azure": "Azure OpenAI"}
# The report's start buttons; a preference (DPO) file's say how it trains.
START_LABELS = {
    "worker": "Fine-tune on worker",
    "openai": "Fine-tune on OpenAI",
    "azure": "Fine-tune on Azure OpenAI",
}
DPO_LABELS = {
    "worker": "Train with DPO on worker",
    "openai": "Train with DPO on OpenAI",
    "azure": "Train with DPO on Azure OpenAI",
}
VERDICT_TITLES = {
    "ready": "✅ Ready to fine-tune",
    "warnings": "⚠️ Ready to fine-tune, with warnings",
    "not_ready": "❌ Not ready to fine-tune",
}
VERDICT_WORDS = {"ready": "ready", "warnings": "ready, with warnings", "not_ready": "not ready"}

# A/B votes. Button order is part of the spec: A, B, Tie, Both bad.
VOTE_BUTTONS = (
    ("a", "A is better"),
    ("b", "B is better"),
    ("tie", "Tie"),
    ("both_bad", "Both bad"),
)
VOTE_LABELS = dict(VOTE_BUTTONS)
AB_HOW_TO = (
    "*How to take part:* reply in this thread with a prompt. Both models answer it at the "
    "same time; their order is random and their names are hidden. Vote with the buttons "
    "under each pair: you then see (only you) which model was which. One vote per person "
    "per prompt, and you can change it. This message keeps the score."
)


def provider_name(name: str) -> str:
    """A provider as messages name it; an unknown one escaped as written."""
    return PROVIDER_NAMES.get(name) or escape(name)


def next_step_text(step: NextStep | None, *, subject: str | None = None) -> str:
    """The Slack way to take ``step`` (empty when there is none)."""
    if step is NextStep.LIST_MODELS:
        return "`/finetune models` lists the models."
    if step is NextStep.START_ON_WORKER:
        return "Choose “Fine-tune on worker”, or run `/finetune start <dataset> --provider worker`."
    if step is NextStep.FOLLOW_OR_CANCEL:
        return f"To stop it: `/finetune cancel {subject or '<job>'}`."
    if step is NextStep.START_AGAIN:
        return "Start again with `/finetune start`."
    return ""


def error_text(error: TunebotError) -> str:
    """An error's message, its hint and the Slack way to act on it, escaped for mrkdwn
    (core's messages quote file names, model ids and what people typed)."""
    step = next_step_text(error.next_step, subject=error.subject)
    return escape(f"{error.user_message()} {step}" if step else error.user_message())


def hint_text(hint: FailureHint | None) -> str:
    """A failed job's "what to do" line."""
    if hint is None:
        return ""
    step = next_step_text(hint.next_step)
    return f"{hint.text} {step}" if step else hint.text


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 change`` / ``3 changes`` / ``1,200 examples``."""
    word = noun if count == 1 else (plural_noun or noun + "s")
    return f"{count:,} {word}"


def p_value_text(p: float | None) -> str:
    """``p < 0.001`` / ``p = 0.064``: three decimals, never ``p = 0.000``."""
    if p is None:
        return "p –"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


# A/B outcomes as people say them; the store and exports use the keys.
OUTCOME_WORDS = {
    "a": "A is better",
    "b": "B is better",
    "tie": "tie",
    "both_bad": "both bad",
    "both bad": "both bad",
    "no votes": "no votes",
    "not counted": "not counted",
}
