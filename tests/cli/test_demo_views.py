"""The demo's two views of a channel: the transcript of the fake Slack, the terminal, the page.

The transcript is read from a real FakeSlack that slack_sdk's WebClient posts
to and edits, so every version of a message is what Slack would have shown.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from rich.console import Console
from slack_sdk import WebClient

from bot.fakeslack.api import FakeSlack
from bot.fakeslack.transcript import Transcript
from cli.demo.mrkdwn import to_html, to_rich
from cli.demo.page import render_page
from cli.demo.terminal import render_edit_line, render_post, shape

CHANNEL = "C0DEMO"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PROGRESS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": ":gear: *Training* · job `job-1`"}},
    {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "step 1/4"},
        "fields": [{"type": "mrkdwn", "text": "*Train loss*\n7.1"}],
    },
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "cancel",
                "style": "danger",
                "text": {"type": "plain_text", "text": "Cancel job"},
            }
        ],
    },
]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_channel(CHANNEL, name="fine-tuning")
        fake.add_user("U0ALICE", name="alice")
        yield fake


def text_of(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(renderable)
    output = console.file.getvalue()  # type: ignore[attr-defined]  # StringIO, set above
    return str(output)


def test_every_version_of_an_edited_message_is_a_post_in_order(slack: FakeSlack) -> None:
    client = WebClient(token=slack.bot_token, base_url=slack.base_url)
    parent = slack.post_user_message(CHANNEL, "data.jsonl", user="U0ALICE")
    transcript = Transcript(slack, CHANNEL)
    assert [p.author for p in transcript.poll()] == ["alice"]
    posted = client.chat_postMessage(
        channel=CHANNEL, thread_ts=parent["ts"], text="step 1", blocks=PROGRESS
    )
    later = [{**PROGRESS[1], "text": {"type": "mrkdwn", "text": "step 2/4"}}]
    client.chat_update(
        channel=CHANNEL, ts=posted["ts"], text="step 2", blocks=[PROGRESS[0], *later, PROGRESS[2]]
    )
    client.chat_update(channel=CHANNEL, ts=posted["ts"], text="done", blocks=PROGRESS[:1])
    new = transcript.poll()
    assert [(p.kind, p.version, p.text) for p in new] == [
        ("posted", 0, "step 1"),
        ("edited", 1, "step 2"),
        ("edited", 2, "done"),
    ]
    assert all(p.is_bot and p.thread_ts == parent["ts"] for p in new)
    assert transcript.poll() == []
    assert [p.text for p in transcript.latest()] == ["data.jsonl", "done"]
    # An edit that keeps the shape is one line of what changed; a new shape is a full panel.
    assert shape(new[0]) == shape(new[1]) != shape(new[2])
    line = text_of(render_edit_line(new[1], previous=new[0]))
    assert "step 2/4" in line and "Train loss" not in line


def test_uploaded_images_are_attachments_with_their_bytes(slack: FakeSlack) -> None:
    client = WebClient(token=slack.bot_token, base_url=slack.base_url)
    parent = slack.post_user_message(CHANNEL, "data.jsonl", user="U0ALICE")
    client.files_upload_v2(
        channel=CHANNEL, thread_ts=parent["ts"], content=PNG, filename="loss-curve-job-1.png"
    )
    posts = Transcript(slack, CHANNEL).poll()
    (attachment,) = posts[-1].attachments
    assert (attachment.name, attachment.mimetype, attachment.content) == (
        "loss-curve-job-1.png",
        "image/png",
        PNG,
    )
    page = render_page(posts, title="t", intro="i", note="n")
    assert "data:image/png;base64," + base64.b64encode(PNG).decode() in page
    assert "loss-curve-job-1.png" in text_of(render_post(posts[-1]))


def test_the_terminal_draws_block_kit_and_cuts_noise(slack: FakeSlack) -> None:
    client = WebClient(token=slack.bot_token, base_url=slack.base_url)
    client.chat_postMessage(channel=CHANNEL, text="progress", blocks=PROGRESS)
    noise = "noise " * 400
    client.chat_postMessage(
        channel=CHANNEL,
        text="pair",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": f"*Response A*\n{noise}"}}],
    )
    progress, pair = Transcript(slack, CHANNEL).poll()
    drawn = text_of(render_post(progress))
    for part in ("⚙️ Training · job job-1", "Train loss", "7.1", " Cancel job ", "tunebot"):
        assert part in drawn
    assert "(2,013 more characters)" in text_of(render_post(pair))  # 2,413 shown as 400


def test_mrkdwn_becomes_markup_without_trusting_the_text() -> None:
    text = "*Job `a*b` done* <https://x.y/z|see> <@U0ALICE> _now_ :tada: <script>x</script> [red]"
    html = to_html(
        text.replace("<script>", "&lt;script&gt;").replace("</script>", "&lt;/script&gt;")
    )
    assert "<b>Job <code>a*b</code> done</b>" in html
    assert '<a href="https://x.y/z">see</a>' in html and "<i>now</i>" in html and "🎉" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    rich = to_rich(text, names=lambda user: {"U0ALICE": "alice"}.get(user, user))
    assert "@alice" in rich and "\\[red]" in rich  # Slack text never becomes rich markup
