""" "Train on these votes": an A/B session's decided prompts become a DPO job in its thread.

Core builds the request (:mod:`core.evaluation.vote_training`: the pairs taken
in as a dataset, the session's fine-tuned model continued with ``method: dpo``)
and claims it like any start, so the budget and the options are checked the
same way; the usual start flow then posts "starting…" and launches it, and the
job reports in the session's thread like any other job.
"""

from __future__ import annotations

import threading

from bot.blocks.text import error_text
from bot.context import BotContext
from bot.flows.start import start_claimed
from bot.slack_ops import tell_user
from core.errors import TunebotError
from core.evaluation.vote_training import votes_request
from core.store.ab import find_session
from core.training.start import DuplicateRequest, claim_job

# Two clicks at once (a double click, two people) take the pairs in once and meet at
# the claim one after the other, so the second is told which job the first started.
# Across replicas the job's unique request id still lets only one start.
_CLICKS = threading.Lock()


def train_on_votes(
    ctx: BotContext,
    *,
    session_ref: str,
    user: str,
    channel: str,
    thread_ts: str | None,
    team_id: str | None = None,
) -> None:
    """Check the person, then start (once per set of votes) a DPO job on the session's pairs."""

    def tell(text: str) -> None:
        tell_user(ctx.client, channel=channel, user=user, text=text, thread_ts=thread_ts)

    if not ctx.authorizer.is_allowed(user):
        tell(ctx.authorizer.refusal())
        return
    session = find_session(ctx.engine, session_ref, team_id=ctx.team) if session_ref else None
    if session is None:
        tell(f":warning: There is no A/B test `{session_ref[:40]}` any more.")
        return
    with _CLICKS:
        try:
            request = votes_request(
                ctx.engine, session, settings=ctx.settings, user_id=user, team_id=team_id
            )
            job = claim_job(ctx.engine, request, settings=ctx.settings, providers=ctx.providers)
        except DuplicateRequest as duplicate:
            tell(
                f"These votes already started job `{duplicate.job.short_id}` "
                f"({duplicate.job.status}); its progress is in this thread."
            )
            return
        except TunebotError as exc:
            tell(f":warning: Not started: {error_text(exc)}")
            return
    start_claimed(ctx, job, request, notify=tell)
