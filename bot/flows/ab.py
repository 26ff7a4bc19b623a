"""The Slack side of A/B sessions: start one, answer a prompt, take a vote, show results.

Listeners and the ``/finetune ab`` command call these after their ack; each
function does the core call and renders through :mod:`bot.blocks.ab`. Scoreboard
edits are throttled per session (an atomic claim in the database, plus one
trailing edit per process so the last vote always shows).
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.blocks.ab import (
    build_pair_message,
    build_results,
    build_reveal,
    build_scoreboard,
    build_wip_text,
    shown,
)
from bot.blocks.text import error_text
from bot.context import BotContext, log_failure
from bot.flows.cards import ab_answer, ab_card
from bot.slack_clients import NotInstalled, acting_for, current_team
from bot.slack_ops import post_in_thread, post_wip, tell_user, update_wip, upload_to_thread
from core.errors import EvaluationError, TunebotError
from core.evaluation import export, sessions, vote_training, votes
from core.evaluation.arms import Arm, Generation
from core.evaluation.examples import MAX_FEW_SHOT, few_shot_prompt
from core.evaluation.runs import read_shared_examples
from core.evaluation.spend import check_model_call_budget
from core.storage import SharedStorage
from core.store.datasets import get_dataset
from core.store.evaluation import AbPrompt, AbSession, get_session, prompt_position
from core.store.jobs import TrainingJob, find_job

logger = logging.getLogger(__name__)

# A prompt still pending this long was left by a process that died mid-answer.
STALE_PROMPT = timedelta(minutes=5)
# Long enough that answers are rarely cut by the model; Slack shows ~2,800
# characters of each and the full text is attached when longer.
SESSION_MAX_TOKENS = 1024
# Replies that are prompts: plain messages, and replies also sent to the channel.
PROMPT_SUBTYPES = (None, "thread_broadcast")


@dataclass(frozen=True)
class SessionRequest:
    """What to compare, parsed from a button or a command."""

    request_id: str
    channel_id: str
    user_id: str
    candidate: Arm
    baseline: Arm
    labels: tuple[str, str]
    job: TrainingJob | None = None
    few_shot: bool = False


def request_for_job(
    job: TrainingJob,
    *,
    request_id: str,
    channel_id: str,
    user_id: str,
    opponent: str | None = None,
    few_shot: bool = False,
) -> SessionRequest:
    """Fine-tuned model of ``job`` against its base (or ``opponent``) on the job's provider.

    Raises:
        EvaluationError: the job has not produced a model yet.
    """
    if job.status != "succeeded" or not job.fine_tuned_model:
        raise EvaluationError(
            f"Job `{job.short_id}` has no fine-tuned model yet (status: {job.status}).",
            hint="Start the A/B test once the job has succeeded.",
        )
    baseline = opponent or job.base_model
    return SessionRequest(
        request_id=request_id,
        channel_id=channel_id,
        user_id=user_id,
        candidate=Arm("candidate", job.provider, job.fine_tuned_model),
        baseline=Arm("baseline", job.provider, baseline),
        labels=("fine-tuned", "base" if opponent is None else baseline[:64]),
        job=job,
        few_shot=few_shot,
    )


def _few_shot_prompt(ctx: BotContext, job: TrainingJob | None) -> str:
    dataset = get_dataset(ctx.engine, job.dataset_id) if job and job.dataset_id else None
    if dataset is None or not dataset.training_path:
        raise EvaluationError(
            "The few-shot arm needs the job's training data, and I don't have it.",
            hint="Start the test without `--few-shot`, or from a job started from a dataset.",
        )
    storage = SharedStorage.from_settings(ctx.settings)
    return few_shot_prompt(read_shared_examples(storage, dataset.training_path, limit=MAX_FEW_SHOT))


def start_session(ctx: BotContext, request: SessionRequest) -> tuple[AbSession, bool]:
    """Create the session and post its root message; returns (session, new).

    The same request (a double click, a retried command) returns the existing
    session without posting again.

    Raises:
        EvaluationError: a provider is not configured or the few-shot data is missing.
    """
    for arm in (request.candidate, request.baseline):
        if arm.provider not in ctx.providers:
            raise EvaluationError(
                f"Provider `{arm.provider}` is not configured here.",
                hint="Set its URL and key (see `/finetune models`) or pick another provider.",
            )
    few_shot = _few_shot_prompt(ctx, request.job) if request.few_shot else None
    session, created = sessions.create_session(
        ctx.engine,
        request_id=request.request_id,
        channel_id=request.channel_id,
        created_by=request.user_id,
        candidate=request.candidate,
        baseline=request.baseline,
        few_shot_prompt=few_shot,
        generation=Generation(max_tokens=SESSION_MAX_TOKENS, seed=secrets.randbelow(2**31)),
        job_id=request.job.id if request.job else None,
        labels=request.labels,
        team_id=current_team(),
    )
    if not created:
        return session, False
    assert session.id is not None
    root = build_scoreboard(ab_card(session), votes.scoreboard(ctx.engine, session))
    response = ctx.client.chat_postMessage(channel=request.channel_id, **root)
    session.thread_ts = str(response["ts"])
    sessions.attach_thread(ctx.engine, session.id, session.thread_ts)
    _answer_early_replies(ctx, session)
    if request.job is not None:
        _announce_in_job_thread(ctx, request.job, session)
    return session, True


def prompt_event(event: dict[str, Any]) -> bool:
    """A person's reply in some thread: not a bot, not an edit or deletion, not the parent."""
    return (
        event.get("subtype") in PROMPT_SUBTYPES
        and not event.get("bot_id")
        and bool(event.get("user"))
        and bool(event.get("thread_ts"))
        and event.get("thread_ts") != event.get("ts")
    )


def submit_prompt(ctx: BotContext, session: AbSession, event: dict[str, Any]) -> None:
    """Answer a prompt in the background (the generation pool); failures are logged."""
    ctx.generation_pool.submit(answer_prompt, ctx, session, event).add_done_callback(log_failure)


def _answer_early_replies(ctx: BotContext, session: AbSession) -> None:
    """Answer replies posted between the root appearing and its ts being saved.

    Their events found no session for the thread and were passed over. The
    thread is read after the ts is committed, so every such reply is in it
    (it was posted before its event was handled, which was before the commit);
    a reply the listener took as well is recorded once (``record_prompt`` is
    unique per message). One page is plenty: the window is a few milliseconds.
    """
    try:
        page = ctx.client.conversations_replies(
            channel=session.channel_id, ts=session.thread_ts or "", limit=200
        )
    except SlackApiError as exc:
        logger.warning(
            "early replies of session %s not read: %s", session.short_id, exc.response.get("error")
        )
        return
    for message in page.get("messages") or []:
        if prompt_event(message):
            submit_prompt(ctx, session, message)


def _announce_in_job_thread(ctx: BotContext, job: TrainingJob, session: AbSession) -> None:
    link = "in the channel"
    try:
        permalink = ctx.client.chat_getPermalink(
            channel=session.channel_id, message_ts=session.thread_ts or ""
        )
        link = f"<{permalink['permalink']}|here>"
    except SlackApiError as exc:
        logger.warning(
            "no permalink for session %s: %s", session.short_id, exc.response.get("error")
        )
    post_in_thread(
        ctx.client,
        channel=job.channel_id,
        thread_ts=job.thread_ts,
        text=f":vs: A/B test `{session.short_id}` started {link}: "
        "reply in its thread to take part.",
    )


def link_text(session: AbSession) -> str:
    return f"A/B test `{session.short_id}` (its thread in <#{session.channel_id}>)"


def prompt_number(ctx: BotContext, prompt: AbPrompt) -> int:
    """The prompt's 1-based position in its session, as the pair message shows it."""
    return prompt_position(ctx.engine, session_id=prompt.session_id, prompt_id=prompt.id or 0)


def answer_prompt(ctx: BotContext, session: AbSession, event: dict[str, Any]) -> None:
    """Record a thread reply as a prompt, get both answers at once, post them blind."""
    try:
        # Answers cost money on OpenAI/Azure: refused, not recorded, once the budget is spent.
        check_model_call_budget(
            ctx.engine,
            settings=ctx.settings,
            calls=[(arm.provider, arm.model) for arm in sessions.arms_of(session).values()],
        )
        prompt = sessions.record_prompt(
            ctx.engine,
            session,
            slack_ts=str(event["ts"]),
            author_id=str(event.get("user") or ""),
            text=str(event.get("text") or ""),
        )
    except EvaluationError as exc:
        ctx.client.chat_postEphemeral(
            channel=session.channel_id,
            user=str(event.get("user") or ""),
            thread_ts=session.thread_ts,
            text=f":warning: {error_text(exc)}",
        )
        return
    if prompt is None:  # a retried event: this prompt is already being answered
        return
    finish_prompt(ctx, session, prompt)


def finish_prompt(ctx: BotContext, session: AbSession, prompt: AbPrompt) -> None:
    """Post (or reuse) the placeholder, get both answers at once, show them blind."""
    assert prompt.id is not None
    number = prompt_number(ctx, prompt)
    wip_ts = prompt.message_ts
    if wip_ts is None:
        wip_ts = post_wip(
            ctx.client,
            channel=session.channel_id,
            thread_ts=session.thread_ts,
            text=build_wip_text(number),
        )
        sessions.set_message_ts(ctx.engine, prompt.id, wip_ts)
    pair = sessions.generate(ctx.engine, session, prompt, providers=ctx.providers)
    hidden = (session.candidate_model, session.baseline_model)
    sides = [shown(ab_answer(r), hidden_names=hidden) for r in (pair.response_a, pair.response_b)]
    message = build_pair_message(
        number, sides[0], sides[1], prompt_id=prompt.id, prompt=prompt.text
    )
    update_wip(ctx.client, channel=session.channel_id, ts=wip_ts, **message)
    for response, side in zip((pair.response_a, pair.response_b), sides, strict=True):
        if side.truncated:
            upload_to_thread(
                ctx.client,
                channel=session.channel_id,
                thread_ts=session.thread_ts or wip_ts,
                filename=f"prompt-{number}-response-{response.position}.txt",
                title=f"Prompt {number}, Response {response.position} (full text)",
                content=(response.text or "").encode("utf-8"),
            )
    refresh_scoreboard(ctx, session.id or 0)


def resume_stale_prompts(ctx: BotContext, *, older_than: timedelta = STALE_PROMPT) -> int:
    """Answer prompts a dead process left pending (its placeholder says "answering…")."""
    resumed = 0
    for session, prompt in sessions.claim_stale_prompts(ctx.engine, older_than=older_than):
        try:
            with acting_for(session.team_id):
                finish_prompt(ctx, session, prompt)
            resumed += 1
        except NotInstalled:
            continue  # the workspace uninstalled tunebot: nothing to post to
        except (SlackApiError, IntegrityError) as exc:
            # IntegrityError: the first process finished after all; nothing to redo.
            logger.warning("could not resume A/B prompt %s: %s", prompt.id, exc)
    return resumed


def record_vote(
    ctx: BotContext, *, prompt_id: int, user_id: str, choice: str, channel_id: str
) -> None:
    """Store the vote, reveal the models to this voter only, refresh the scoreboard."""
    try:
        change = votes.cast_vote(
            ctx.engine,
            prompt_id=prompt_id,
            user_id=user_id,
            choice=choice,
            team_id=current_team(),
            within_team=ctx.team,
        )
    except EvaluationError as exc:
        tell_user(ctx.client, channel=channel_id, user=user_id, text=f":warning: {error_text(exc)}")
        return
    session = get_session(ctx.engine, session_id=change.prompt.session_id)
    assert session is not None and session.id is not None
    revealed = votes.reveal(ctx.engine, prompt_id)
    text = build_reveal(
        ab_card(session),
        number=prompt_number(ctx, change.prompt),
        choice=change.choice,
        previous=change.previous,
        revealed={slot: ab_answer(response) for slot, response in revealed.items()},
    )
    ctx.client.chat_postEphemeral(
        channel=session.channel_id, user=user_id, thread_ts=session.thread_ts, text=text
    )
    refresh_scoreboard(ctx, session.id)


_pending_lock = threading.Lock()
_pending: set[tuple[int, int]] = set()  # (engine, session): a trailing edit is due
_timers: dict[threading.Timer, tuple[int, int]] = {}  # every live timer, flushed at stop


def refresh_scoreboard(ctx: BotContext, session_id: int) -> None:
    """Edit the root message now, or once the throttle window ends (one timer per session)."""
    wait = sessions.claim_scoreboard_edit(
        ctx.engine, session_id, min_interval_s=ctx.settings.min_edit_seconds
    )
    if wait <= 0:
        _edit_scoreboard(ctx, session_id)
        return
    key = (id(ctx.engine), session_id)
    with _pending_lock:
        if key in _pending:
            return
        _pending.add(key)
        timer = threading.Timer(wait, _trailing_refresh, args=(ctx, session_id, key))
        timer.daemon = True
        _timers[timer] = key
        timer.start()  # under the lock: a flush never joins a timer not yet started


def _edit_scoreboard(ctx: BotContext, session_id: int) -> None:
    session = get_session(ctx.engine, session_id=session_id)
    if session is None or session.thread_ts is None:
        return
    message = build_scoreboard(ab_card(session), votes.scoreboard(ctx.engine, session))
    try:
        # The trailing edit runs on a timer thread: the session names its workspace.
        with acting_for(session.team_id or current_team()):
            update_wip(ctx.client, channel=session.channel_id, ts=session.thread_ts, **message)
    except SlackApiError as exc:
        logger.warning("scoreboard %s not edited: %s", session.short_id, exc.response.get("error"))


def _trailing_refresh(ctx: BotContext, session_id: int, key: tuple[int, int]) -> None:
    with _pending_lock:
        if key not in _pending:
            return  # flushed at stop
        _pending.discard(key)  # a vote from now on is read by this edit or starts its own
    try:
        refresh_scoreboard(ctx, session_id)
    except Exception:
        logger.exception("trailing scoreboard edit for session %s failed", session_id)
    finally:
        with _pending_lock:
            _timers.pop(threading.current_thread(), None)  # type: ignore[call-overload]


def flush_scoreboard_edits(ctx: BotContext) -> None:
    """At stop: make now the scoreboard edits still waiting on the throttle, so votes
    already counted are shown, and wait for those under way, so that none runs on
    an engine being disposed."""
    while True:
        with _pending_lock:
            timers = {t: key for t, key in _timers.items() if key[0] == id(ctx.engine)}
            due = [key[1] for key in timers.values() if key in _pending]
            for timer, key in timers.items():
                timer.cancel()
                _pending.discard(key)
                del _timers[timer]
        if not timers:
            return
        for timer in timers:
            timer.join()  # one that had fired finishes its edit (it may start a timer)
        for session_id in due:
            try:
                _edit_scoreboard(ctx, session_id)
            except Exception:
                logger.exception("scoreboard edit for session %s failed at stop", session_id)


def count_prompts(engine: Engine, session: AbSession) -> int:
    """How many prompts the session has (what unblinding would reveal)."""
    return len(export.prompt_rows(engine, session))


def post_results(ctx: BotContext, session: AbSession) -> int:
    """Post the per-prompt table in the session's thread with CSV and DPO JSONL; returns rows."""
    rows = export.prompt_rows(ctx.engine, session)
    preferences = export.to_preference_jsonl(rows)
    pairs = preferences.count("\n")
    trainable = (
        pairs >= ctx.settings.dpo_min_pairs
        and vote_training.source_model(ctx.engine, session) is not None
    )
    message = build_results(
        ab_card(session),
        rows,
        votes.scoreboard(ctx.engine, session),
        train_pairs=pairs if trainable else None,
    )
    thread = session.thread_ts
    post_in_thread(ctx.client, channel=session.channel_id, thread_ts=thread, **message)
    if thread is None:
        return len(rows)
    upload_to_thread(
        ctx.client,
        channel=session.channel_id,
        thread_ts=thread,
        filename=f"{session.short_id}-prompts.csv",
        title=f"A/B test {session.short_id}: every prompt, answer and vote",
        content=export.to_csv(rows).encode("utf-8"),
    )
    if preferences:
        upload_to_thread(
            ctx.client,
            channel=session.channel_id,
            thread_ts=thread,
            filename=f"{session.short_id}-preferences.jsonl",
            title=f"A/B test {session.short_id}: decided pairs as DPO preference data",
            content=preferences.encode("utf-8"),
        )
    return len(rows)


def may_unblind(ctx: BotContext, session: AbSession, user: str) -> bool:
    """Only the session's creator and admins may post its (unblinding) results."""
    return user == session.created_by or user in ctx.authorizer.admins


def unblind_refusal(session: AbSession) -> str:
    return (
        f"Only <@{session.created_by}>, who started `{session.short_id}`, or a tunebot admin "
        "can post its results: they reveal which model gave each answer."
    )


def results_from_button(
    ctx: BotContext, *, short_id: str, user: str, channel: str, thread_ts: str | None
) -> None:
    """The confirmed "Post the results" click: checked again, then the results are posted."""

    def tell(text: str) -> None:
        tell_user(ctx.client, channel=channel, user=user, text=text, thread_ts=thread_ts)

    session = sessions.find_session(ctx.engine, short_id.lower(), team_id=ctx.team)
    if session is None or session.channel_id != channel:
        tell(f"A/B test `{short_id}` is not in this channel.")
        return
    if not may_unblind(ctx, session, user):
        tell(unblind_refusal(session))
        return
    count = post_results(ctx, session)
    tell(
        f"Posted the results of `{session.short_id}` ({count} prompts) in its thread. "
        "They show which model answered each prompt, so votes on those prompts are no longer blind."
    )


def start_from_button(
    ctx: BotContext, *, short_id: str, user: str, channel: str, thread_ts: str | None
) -> None:
    """One session per job from its button; later clicks point to the existing one."""

    def tell(text: str) -> None:
        tell_user(ctx.client, channel=channel, user=user, text=text, thread_ts=thread_ts)

    if not ctx.authorizer.is_allowed(user):
        tell(ctx.authorizer.refusal())
        return
    job = find_job(ctx.engine, ref=short_id, team_id=ctx.team)
    if job is None:
        tell(f"Job `{short_id}` no longer exists.")
        return
    try:
        request = request_for_job(
            job, request_id=f"button:{job.short_id}", channel_id=job.channel_id, user_id=user
        )
        session, created = start_session(ctx, request)
    except TunebotError as exc:
        tell(f":warning: {error_text(exc)}")
        return
    if not created:
        tell(f"This job already has {link_text(session)}.")
