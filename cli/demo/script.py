"""The demo's four scenes, played through the fake Slack the way Slack would.

Every step enters the real bot as Slack does: a ``file_share`` event, button
clicks as ``block_actions``, a modal submission, thread replies as
``message`` events, all signed with the bot's signing secret and POSTed to
``tunebot serve``. The script then waits for what the bot posts, rendering
the channel (every post and every edit) as it changes.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from bot.fakeslack.events import SlackEventSender
from bot.fakeslack.payloads import event_callback, message_event, modal_state_values
from bot.fakeslack.transcript import Post, Transcript
from cli.demo.stack import CHANNEL, PEOPLE, DemoError, Stack
from cli.demo.terminal import (
    render_edit_line,
    render_ephemeral,
    render_modal,
    render_post,
    shape,
)

__all__ = ["NOISE_NOTE", "PROMPTS", "Demo"]

T = TypeVar("T")

ALICE, BOB, CAROL = (user_id for user_id, _ in PEOPLE)
# Questions a Parcelpine support agent gets (examples/support_chat.jsonl).
PROMPTS = (
    "My parcel from Northpeak Gear hasn't moved since Wednesday. What can I do?",
    "How do I start a return for a jacket that doesn't fit?",
    "Can you refund my $350 order right now?",
)
NOISE_NOTE = (
    "The tiny model is random and trains for one epoch on a CPU, so its answers are noise: "
    "that is expected. The demo shows the loop (validate, train, follow, compare), "
    "not a good model; on a GPU worker with a real base model the same loop trains one."
)
STEP_TIMEOUT = 60.0
TRAIN_TIMEOUT = 150.0


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        element
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
        if element.get("type") == "button"
    ]


def _has_button(post: Post, action: str | re.Pattern[str]) -> dict[str, Any] | None:
    for button in _buttons(post.message):
        action_id = str(button.get("action_id"))
        if action_id == action if isinstance(action, str) else action.match(action_id):
            return button
    return None


@dataclass
class Demo:
    """Drives one run; ``run()`` plays the scenes, ``transcript`` holds what was shown."""

    stack: Stack
    console: Console
    dataset: Path
    epochs: int = 1
    seed: int = 7
    transcript: Transcript = field(init=False)
    _views_shown: int = 0
    _ephemerals_shown: int = 0
    _shapes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _last: dict[str, Post] = field(default_factory=dict)
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.transcript = Transcript(self.stack.slack, CHANNEL)
        self.sender = SlackEventSender(
            f"{self.stack.bot_url}/slack/events",
            signing_secret=self.stack.signing_secret,
            slack=self.stack.slack,
        )

    def close(self) -> None:
        self.sender.close()

    # ---- showing ---------------------------------------------------------
    def names(self, user_id: str) -> str:
        user = self.stack.slack.ws.users.get(user_id, {})
        return str(user.get("name") or user_id)

    def pump(self) -> list[Post]:
        """Render what changed in the channel (and any modal opened) since the last call."""
        for view in self.stack.slack.views()[self._views_shown :]:
            self.console.print(render_modal(view, user="alice"))
            self._views_shown += 1
        new = self.transcript.poll()
        at = time.monotonic() - self._started
        for post in new:
            before = self._shapes.get(post.ts)
            self._shapes[post.ts] = shape(post)
            if post.kind == "edited" and before == self._shapes[post.ts]:
                previous = self._last.get(post.ts)
                self.console.print(
                    render_edit_line(post, previous=previous, names=self.names, at=at)
                )
            else:
                self.console.print(render_post(post, names=self.names, at=at))
            self._last[post.ts] = post
        for note in self.stack.slack.ephemerals(CHANNEL)[self._ephemerals_shown :]:
            self.console.print(render_ephemeral(note, names=self.names))
            self._ephemerals_shown += 1
        return new

    def scene(self, number: int, title: str, what: str) -> None:
        self.pump()
        elapsed = time.monotonic() - self._started
        self.console.rule(f"[bold]{number}. {title}[/bold] [dim]({elapsed:.0f} s)[/dim]")
        self.console.print(f"[dim]{what}[/dim]")

    def wait(self, found: Callable[[], T | None], what: str, *, timeout: float = STEP_TIMEOUT) -> T:
        """Render the channel while waiting for ``found()`` to return something."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            value = found()
            if value:
                return value
            if time.monotonic() > deadline:
                raise DemoError(
                    f"waited {timeout:.0f} s for {what}.\nEnd of the bot's log:\n"
                    f"{self.stack.log_tail('bot')}\nEnd of the worker's log:\n"
                    f"{self.stack.log_tail('worker')}"
                )
            time.sleep(0.2)

    def latest(self, predicate: Callable[[Post], bool]) -> Post | None:
        found = [p for p in self.transcript.latest() if p.is_bot and predicate(p)]
        return found[-1] if found else None

    # ---- acting as Slack ---------------------------------------------------
    def click(self, post: Post, button: dict[str, Any], *, user: str) -> None:
        current = self.stack.slack.message(CHANNEL, post.ts)
        response = self.sender.action(
            str(button["action_id"]),
            user_id=user,
            value=button.get("value"),
            channel_id=CHANNEL,
            message=current,
        )
        if response.status_code != 200:
            raise DemoError(f"the bot answered {response.status_code} to a click")

    def say(self, text: str, *, user: str, thread_ts: str) -> None:
        message = self.stack.slack.post_user_message(CHANNEL, text, user=user, thread_ts=thread_ts)
        response = self.sender.send_envelope(event_callback(message_event(CHANNEL, message)))
        if response.status_code != 200:
            raise DemoError(f"the bot answered {response.status_code} to a message")

    # ---- the scenes --------------------------------------------------------
    def run(self) -> None:
        report = self.drop_dataset()
        result = self.train(report)
        self.ab_test(result)

    def drop_dataset(self) -> Post:
        self.scene(
            1,
            "alice drops a dataset into #fine-tuning",
            f"{self.dataset.name}: the bot downloads it, validates it and answers in its thread.",
        )
        slack = self.stack.slack
        info = slack.add_file(
            self.dataset.name, self.dataset.read_bytes(), user=ALICE, channel=CHANNEL
        )
        _, message = slack.file_message(info["id"])
        self.sender.send_envelope(event_callback(message_event(CHANNEL, message)))
        # The report replaces a one-line placeholder: wait for a reply with more blocks.
        report = self.wait(
            lambda: self.latest(lambda p: p.thread_ts == message["ts"] and len(p.blocks) > 1),
            "the dataset report",
        )
        if _has_button(report, "start_job:worker") is None:
            raise DemoError(
                f"the bot found {self.dataset.name} not ready to train (its report is above). "
                "Pass --dataset a file that `tunebot validate` calls ready."
            )
        return report

    def train(self, report: Post) -> Post:
        self.scene(
            2,
            "alice clicks “Fine-tune on worker”",
            f"The bot opens its modal; alice picks {self.epochs} epoch and presses Start. The job "
            "runs on the real worker (tiny model, CPU); the bot edits one progress message.",
        )
        button = _has_button(report, "start_job:worker")
        assert button is not None
        views_before = len(self.stack.slack.views())
        self.click(report, button, user=ALICE)
        view = self.wait(
            lambda: next(iter(self.stack.slack.views()[views_before:]), None), "the start modal"
        )
        response = self.sender.view_submission(
            str(view["callback_id"]),
            modal_state_values(view, epochs=str(self.epochs)),
            user_id=ALICE,
            private_metadata=str(view.get("private_metadata") or ""),
            view=view,
        )
        if response.status_code != 200 or response.text.strip():
            raise DemoError(f"the modal was not accepted: {response.text[:500]}")
        self.console.print(f"[dim]alice sets Epochs to {self.epochs} and presses Start.[/dim]")
        thread = report.thread_ts

        def outcome() -> Post | None:
            # The result (with its A/B button), or a failure the bot posted in the thread.
            return self.latest(
                lambda p: (
                    _has_button(p, "ab_start") is not None
                    or (p.thread_ts == thread and p.text.startswith(":x:"))
                )
            )

        result = self.wait(outcome, "the job's result", timeout=TRAIN_TIMEOUT)
        if _has_button(result, "ab_start") is None:
            raise DemoError(f"the job did not succeed: {' '.join(result.text.split())}")
        self.scene(
            3,
            "The job succeeded",
            "The result reply names the fine-tuned model; the loss curve is attached.",
        )
        self.wait(
            lambda: any(
                a.mimetype == "image/png" for p in self.transcript.posts for a in p.attachments
            ),
            "the loss curve",
        )
        return result

    def ab_test(self, result: Post) -> None:
        self.scene(
            4,
            "An A/B test with three prompts and simulated votes",
            "alice clicks “Start A/B test”; the team asks three questions in the session's "
            "thread; both models answer, blind, and alice, bob and carol vote.",
        )
        button = _has_button(result, "ab_start")
        assert button is not None
        known = {p.ts for p in self.transcript.posts}
        self.click(result, button, user=ALICE)
        session = self.wait(
            lambda: next(
                (
                    p
                    for p in self.transcript.latest()
                    if p.is_bot and p.thread_ts is None and p.ts not in known
                ),
                None,
            ),
            "the A/B session's message",
        )
        rng = random.Random(self.seed)
        voters = [user_id for user_id, _ in PEOPLE]
        vote = re.compile(r"^ab_vote_")
        asked = [ALICE, BOB, CAROL]
        for number, prompt in enumerate(PROMPTS):
            seen = {p.ts for p in self.transcript.latest() if _has_button(p, vote)}
            self.say(prompt, user=asked[number], thread_ts=session.ts)
            pair = self.wait(
                lambda seen=seen: next(  # type: ignore[misc]  # bound per prompt on purpose
                    (
                        p
                        for p in self.transcript.latest()
                        if p.thread_ts == session.ts and p.ts not in seen and _has_button(p, vote)
                    ),
                    None,
                ),
                f"both answers to prompt {number + 1}",
                timeout=STEP_TIMEOUT,
            )
            for voter in voters:
                # Simulated taste: most people prefer one side, some call it a tie.
                choice = rng.choices(["a", "b", "tie", "both_bad"], weights=[5, 3, 1, 1])[0]
                chosen = _has_button(pair, f"ab_vote_{choice}")
                assert chosen is not None
                self.click(pair, chosen, user=voter)
        total = len(PROMPTS) * len(voters)
        counted = re.compile(rf"\b{total} votes\b")
        self.wait(
            lambda: counted.search(self.stack.slack.message(CHANNEL, session.ts).get("text", "")),
            "the scoreboard to count every vote",
        )
        self.pump()
