"""FakeSlack's Socket Mode is as strict as Slack's: app token only, one-time tickets,
``hello`` first, acks recorded; driven by slack_sdk's real builtin client."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bot.fakeslack.api import FakeSlack
from bot.fakeslack.events import message_event


def _open(slack: FakeSlack, token: str) -> str:
    client = WebClient(base_url=slack.base_url)
    return str(client.apps_connections_open(app_token=token)["url"])


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("xoxb-1111-2222-faketoken", "not_allowed_token_type"),
        ("xapp-1-A0TUNEBOT-9999-wrong", "invalid_auth"),
    ],
)
def test_connections_open_wants_the_app_token(
    fake_slack: FakeSlack, token: str, error: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        _open(fake_slack, token)
    assert raised.value.response["error"] == error


def test_a_ticket_says_hello_once_and_cannot_be_reused(fake_slack: FakeSlack) -> None:
    url = _open(fake_slack, fake_slack.app_token)
    assert url.startswith(f"ws://127.0.0.1:{fake_slack.url.rsplit(':', 1)[1]}/socket-mode/")
    with connect(url) as websocket:
        hello = json.loads(websocket.recv(timeout=5))
        assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == "A0TUNEBOT"
        fake_slack.wait_for_socket_client()
    with pytest.raises(InvalidStatus) as refused, connect(url):
        pass
    assert refused.value.response.status_code == 403


@pytest.fixture
def sdk_client(fake_slack: FakeSlack) -> Iterator[tuple[SocketModeClient, list[str]]]:
    """slack_sdk's builtin client; it acks commands with a payload and events without."""
    web = WebClient(token=fake_slack.bot_token, base_url=fake_slack.base_url)
    client = SocketModeClient(app_token=fake_slack.app_token, web_client=web)
    seen: list[str] = []

    def listener(client: SocketModeClient, request: SocketModeRequest) -> None:
        seen.append(request.type)
        payload = {"text": "got it"} if request.type == "slash_commands" else None
        response = SocketModeResponse(envelope_id=request.envelope_id, payload=payload)
        client.send_socket_mode_response(response)

    client.socket_mode_request_listeners.append(listener)  # type: ignore[arg-type]
    client.connect()
    fake_slack.wait_for_socket_client()
    yield client, seen
    client.close()


def test_envelopes_reach_the_client_and_acks_are_recorded(
    fake_slack: FakeSlack, sdk_client: tuple[SocketModeClient, list[str]]
) -> None:
    _client, seen = sdk_client
    info = fake_slack.add_file("a.jsonl", b"{}\n", user="U0ALICE", channel="C0TUNEBOT")
    event_id = fake_slack.socket_send_event(message_event(*fake_slack.file_message(info["id"])))
    command_id = fake_slack.socket_send_command("help", user_id="U0ALICE", channel_id="C0TUNEBOT")
    event_ack = fake_slack.wait_for_ack(event_id)
    command_ack = fake_slack.wait_for_ack(command_id)
    assert event_ack.payload is None and command_ack.payload == {"text": "got it"}
    # slack_sdk hands envelopes to a thread pool, so they are handled (and acked)
    # in no promised order: compare as multisets, not sequences.
    assert sorted(seen) == ["events_api", "slash_commands"]
    assert sorted(a.envelope_id for a in fake_slack.acks()) == sorted([event_id, command_id])
