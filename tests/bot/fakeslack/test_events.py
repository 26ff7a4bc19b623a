"""Signed requests from bot.fakeslack.events reach a real bolt app in HTTP mode on loopback.

The app here is a minimal stand-in for the tunebot bot: it checks that what the
sender builds passes bolt's signature verification and parses into the same
listener arguments Slack's real payloads produce, and that the app's Web API
calls (including respond() to a response_url) land on the FakeSlack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.asgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.fakeslack.api import FakeSlack
from bot.fakeslack.events import SlackEventSender, app_home_opened_event, message_event
from bot.fakeslack.server import LoopbackServer

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0TUNEBOT"
MODAL = {
    "type": "modal",
    "callback_id": "start_job",
    "title": {"type": "plain_text", "text": "Fine-tune"},
    "submit": {"type": "plain_text", "text": "Start"},
    "blocks": [
        {
            "type": "input",
            "block_id": "epochs",
            "label": {"type": "plain_text", "text": "Epochs"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        }
    ],
}


def _build_app(slack: FakeSlack, seen: list[tuple[str, Any]]) -> App:
    client = WebClient(token=slack.bot_token, base_url=slack.base_url)
    app = App(signing_secret=SECRET, client=client)

    @app.event("message")
    def on_message(event: dict[str, Any], client: WebClient, request: BoltRequest) -> None:
        seen.append(("retry", request.headers.get("x-slack-retry-num")))
        info = event["files"][0]
        body = httpx.get(
            info["url_private_download"], headers={"Authorization": f"Bearer {client.token}"}
        ).content
        client.chat_postMessage(
            channel=event["channel"],
            thread_ts=event["ts"],
            text=f"{info['name']}: {len(body)} bytes",
        )

    @app.event("app_home_opened")
    def on_home(event: dict[str, Any], client: WebClient) -> None:
        client.views_publish(
            user_id=event["user"],
            view={
                "type": "home",
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "Jobs"}}],
            },
        )

    @app.command("/finetune")
    def on_command(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        ack()
        respond(f"unknown subcommand `{command['text']}`; try `/finetune help`")

    @app.action("start_worker")
    def on_action(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        seen.append(("action", body["actions"][0]["value"]))
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.view("start_job")
    def on_submit(ack: Any, view: dict[str, Any]) -> None:
        ack()
        seen.append(("submit", view["state"]["values"]["epochs"]["value"]["value"]))

    return app


@pytest.fixture
def bot(fake_slack: FakeSlack) -> Iterator[tuple[SlackEventSender, list[tuple[str, Any]]]]:
    seen: list[tuple[str, Any]] = []
    server = LoopbackServer(SlackRequestHandler(_build_app(fake_slack, seen)), name="bolt-app")  # type: ignore[arg-type]
    server.start()
    sender = SlackEventSender(f"{server.url}/slack/events", signing_secret=SECRET, slack=fake_slack)
    yield sender, seen
    sender.close()
    server.stop()


def test_file_share_event_is_answered_in_the_thread(
    fake_slack: FakeSlack, bot: tuple[SlackEventSender, list[tuple[str, Any]]]
) -> None:
    sender, seen = bot
    info = fake_slack.add_file(
        "train.jsonl", b'{"messages": []}\n', user="U0ALICE", channel=CHANNEL
    )
    channel, message = fake_slack.file_message(info["id"])
    event = message_event(channel, message)
    assert event["subtype"] == "file_share" and event["channel_type"] == "channel"
    assert sender.event(event, event_id="Ev0TEST").status_code == 200
    replies = fake_slack.wait_for(lambda: fake_slack.bot_messages(CHANNEL, thread_ts=message["ts"]))
    assert replies[0]["text"] == "train.jsonl: 17 bytes"
    assert sender.event(event, event_id="Ev0TEST", retry_num=1).status_code == 200
    fake_slack.wait_for(lambda: len(seen) == 2)
    assert [value for kind, value in seen if kind == "retry"] == [None, ["1"]]


@pytest.mark.parametrize("signature", ["bad", "stale", "missing"])
def test_bad_signatures_are_rejected(
    fake_slack: FakeSlack, bot: tuple[SlackEventSender, list[tuple[str, Any]]], signature: str
) -> None:
    sender, seen = bot
    response = sender.command("help", user_id="U0ALICE", channel_id=CHANNEL, signature=signature)  # type: ignore[arg-type]
    assert response.status_code == 401
    assert fake_slack.responses() == [] and seen == []


def test_slash_command_responds_via_response_url(
    fake_slack: FakeSlack, bot: tuple[SlackEventSender, list[tuple[str, Any]]]
) -> None:
    sender, _ = bot
    assert sender.command("bogus", user_id="U0ALICE", channel_id=CHANNEL).status_code == 200
    [reply] = fake_slack.wait_for(lambda: fake_slack.ephemerals(CHANNEL, user="U0ALICE"))
    assert "unknown subcommand `bogus`" in reply["text"] and reply["via"] == "response_url"


def test_button_opens_modal_and_submission_is_parsed(
    fake_slack: FakeSlack, bot: tuple[SlackEventSender, list[tuple[str, Any]]]
) -> None:
    sender, seen = bot
    client = WebClient(token=fake_slack.bot_token, base_url=fake_slack.base_url)
    button = {
        "type": "button",
        "action_id": "start_worker",
        "value": "dataset-1",
        "text": {"type": "plain_text", "text": "Fine-tune on worker"},
    }
    blocks = [{"type": "actions", "block_id": "report_actions", "elements": [button]}]
    report = client.chat_postMessage(channel=CHANNEL, text="Report", blocks=blocks)["message"]
    # The click carries the rendered button's block_id and value, as from Slack.
    response = sender.action("start_worker", user_id="U0ALICE", channel_id=CHANNEL, message=report)
    assert response.status_code == 200
    [view] = fake_slack.wait_for(fake_slack.views)
    assert view["callback_id"] == "start_job"
    values = {"epochs": {"value": {"type": "plain_text_input", "value": "3"}}}
    assert (
        sender.view_submission("start_job", values, user_id="U0ALICE", view=view).status_code == 200
    )
    assert seen == [("action", "dataset-1"), ("submit", "3")]
    # The click's response_url edits the message holding the button.
    url = fake_slack.new_response_url(
        kind="actions", channel=CHANNEL, user="U0ALICE", message_ts=report["ts"]
    )
    assert httpx.post(url, json={"replace_original": True, "text": "Starting…"}).text == "ok"
    assert fake_slack.message(CHANNEL, report["ts"])["text"] == "Starting…"
    assert "blocks" not in fake_slack.message(CHANNEL, report["ts"])
    assert len(fake_slack.edits(CHANNEL, report["ts"])) == 1


def test_app_home_opened_publishes_home(
    fake_slack: FakeSlack, bot: tuple[SlackEventSender, list[tuple[str, Any]]]
) -> None:
    sender, _ = bot
    assert sender.event(app_home_opened_event("U0BOB")).status_code == 200
    home = fake_slack.wait_for(lambda: fake_slack.home_view("U0BOB"))
    assert home is not None and json.dumps(home["blocks"]).count("Jobs") == 1
