"""FakeSlack driven by slack_sdk's real WebClient: it must behave (and fail) like Slack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.fakeslack.api import FakeSlack, load_required, shipped_required
from bot.fakeslack.events import make_trigger_id

CHANNEL = "C0TUNEBOT"
MODAL = {
    "type": "modal",
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


@pytest.fixture
def client(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token=fake_slack.bot_token, base_url=fake_slack.base_url)


def _error(call: object) -> str:
    with pytest.raises(SlackApiError) as info:
        call()  # type: ignore[operator]
    return str(info.value.response["error"])


def test_thread_edit_reaction_and_ephemeral_are_recorded(
    fake_slack: FakeSlack, client: WebClient
) -> None:
    root = client.chat_postMessage(channel=CHANNEL, text="Validating data.jsonl")
    reply = client.chat_postMessage(channel=CHANNEL, text="Report", thread_ts=root["ts"])
    client.chat_update(channel=CHANNEL, ts=root["ts"], text="Validated")
    client.reactions_add(channel=CHANNEL, timestamp=root["ts"], name="hourglass_flowing_sand")
    client.chat_postEphemeral(channel=CHANNEL, user="U0ALICE", text="only you")

    assert float(reply["ts"]) > float(root["ts"])
    assert [m["text"] for m in fake_slack.thread(CHANNEL, root["ts"])] == ["Validated", "Report"]
    assert [m["text"] for m in fake_slack.messages(CHANNEL, thread_ts=root["ts"])] == ["Report"]
    assert [m["text"] for m in fake_slack.edits(CHANNEL, root["ts"])] == ["Validating data.jsonl"]
    assert fake_slack.reactions(CHANNEL, root["ts"]) == {"hourglass_flowing_sand": ["U0TUNEBOT"]}
    assert [e["text"] for e in fake_slack.ephemerals(CHANNEL, user="U0ALICE")] == ["only you"]
    assert fake_slack.ephemerals(CHANNEL, user="U0BOB") == []
    replies = client.conversations_replies(channel=CHANNEL, ts=root["ts"])["messages"]
    assert replies[0]["reply_count"] == 1
    first = client.conversations_replies(channel=CHANNEL, ts=reply["ts"], limit=1)
    cursor = first["response_metadata"]["next_cursor"]
    rest = client.conversations_replies(channel=CHANNEL, ts=root["ts"], limit=1, cursor=cursor)
    assert [m["ts"] for m in first["messages"] + rest["messages"]] == [root["ts"], reply["ts"]]
    assert (
        _error(
            lambda: client.reactions_add(
                channel=CHANNEL, timestamp=root["ts"], name="hourglass_flowing_sand"
            )
        )
        == "already_reacted"
    )
    client.reactions_remove(channel=CHANNEL, timestamp=root["ts"], name="hourglass_flowing_sand")
    assert fake_slack.reactions(CHANNEL, root["ts"]) == {}


@pytest.mark.filterwarnings("ignore::UserWarning")  # slack_sdk warns about what we test
def test_only_known_methods_and_the_bot_token_are_accepted(
    fake_slack: FakeSlack, client: WebClient
) -> None:
    assert _error(lambda: client.chat_delete(channel=CHANNEL, ts="1.2")) == "unknown_method"
    assert _error(lambda: client.files_upload(content="x", channels=CHANNEL)) == "unknown_method"
    wrong = WebClient(token="xoxb-someone-else", base_url=fake_slack.base_url)
    assert _error(wrong.auth_test) == "invalid_auth"
    none = httpx.post(f"{fake_slack.base_url}auth.test").json()
    assert none == {"ok": False, "error": "not_authed"}
    assert client.auth_test()["user_id"] == "U0TUNEBOT"


@pytest.mark.filterwarnings("ignore::UserWarning")  # slack_sdk warns about what we test
def test_required_arguments_and_message_limits(fake_slack: FakeSlack, client: WebClient) -> None:
    assert _error(lambda: client.chat_postMessage(channel=CHANNEL)) == "no_text"
    assert (
        _error(lambda: client.chat_postMessage(channel="C0NOPE", text="x")) == "channel_not_found"
    )
    assert (
        _error(lambda: client.chat_postMessage(channel=CHANNEL, text="x" * 40_001))
        == "msg_too_long"
    )
    assert _error(lambda: client.users_info(user="U0NOBODY")) == "user_not_found"
    with pytest.raises(SlackApiError) as info:
        client.api_call("usergroups.users.list", http_verb="GET", params={})
    assert info.value.response["error"] == "invalid_arguments"
    assert "usergroup" in info.value.response["response_metadata"]["messages"][0]
    fake_slack.add_channel("C0OTHER", bot_member=False)
    assert _error(lambda: client.chat_postMessage(channel="C0OTHER", text="x")) == "not_in_channel"


def test_block_kit_limits(client: WebClient) -> None:
    def post(blocks: Any) -> str:
        return _error(lambda: client.chat_postMessage(channel=CHANNEL, text="t", blocks=blocks))

    assert post([{"type": "divider"}] * 51) == "invalid_blocks"
    assert (
        post([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])
        == "invalid_blocks"
    )
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Go"},
        "action_id": "a",
        "value": "v" * 2001,
    }
    assert post([{"type": "actions", "elements": [button]}]) == "invalid_blocks"
    assert post("not json") == "invalid_blocks_format"
    ok = client.chat_postMessage(channel=CHANNEL, text="t", blocks=[{"type": "divider"}] * 50)
    assert len(ok["message"]["blocks"]) == 50
    home = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    assert _error(lambda: client.views_publish(user_id="U0ALICE", view=home)) == "invalid_arguments"


def test_form_encoded_blocks_are_decoded(fake_slack: FakeSlack) -> None:
    body = {"channel": CHANNEL, "text": "t", "blocks": json.dumps([{"type": "divider"}])}
    response = httpx.post(
        f"{fake_slack.base_url}chat.postMessage",
        data=body,
        headers={"Authorization": f"Bearer {fake_slack.bot_token}"},
    ).json()
    assert response["ok"] is True
    assert fake_slack.messages(CHANNEL)[0]["blocks"] == [{"type": "divider"}]


def test_update_needs_an_existing_bot_message(fake_slack: FakeSlack, client: WebClient) -> None:
    human = fake_slack.post_user_message(CHANNEL, "my prompt", user="U0ALICE")
    assert (
        _error(lambda: client.chat_update(channel=CHANNEL, ts=human["ts"], text="x"))
        == "cant_update_message"
    )
    assert (
        _error(lambda: client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))
        == "message_not_found"
    )


def test_files_upload_v2_reaches_the_thread(fake_slack: FakeSlack, client: WebClient) -> None:
    root = client.chat_postMessage(channel=CHANNEL, text="Report")
    done = client.files_upload_v2(
        channel=CHANNEL,
        thread_ts=root["ts"],
        content=b'{"a": 1}\n',
        filename="fixed.jsonl",
        title="Fixed dataset",
        initial_comment="Fixed",
    )
    [upload] = fake_slack.uploads(CHANNEL, thread_ts=root["ts"])
    assert upload["content"] == b'{"a": 1}\n' and upload["title"] == "Fixed dataset"
    assert done["file"]["id"] == upload["file_id"]
    [share] = fake_slack.messages(CHANNEL, thread_ts=root["ts"])
    assert share["subtype"] == "file_share" and share["text"] == "Fixed"
    assert client.files_info(file=upload["file_id"])["file"]["size"] == 9


def test_reported_size_can_exceed_the_content(fake_slack: FakeSlack) -> None:
    info = fake_slack.add_file(
        "huge.jsonl", b"{}\n", user="U0ALICE", channel=CHANNEL, size=600 * 2**20
    )
    _, message = fake_slack.file_message(info["id"])
    assert info["size"] == message["files"][0]["size"] == 600 * 2**20


def test_file_download_needs_the_bot_token(fake_slack: FakeSlack) -> None:
    info = fake_slack.add_file(
        "train.jsonl", b'{"messages": []}\n', user="U0ALICE", channel=CHANNEL
    )
    auth = {"Authorization": f"Bearer {fake_slack.bot_token}"}
    assert httpx.get(info["url_private_download"], headers=auth).content == b'{"messages": []}\n'
    anonymous = httpx.get(info["url_private_download"])
    assert anonymous.status_code == 200 and anonymous.headers["content-type"].startswith(
        "text/html"
    )
    fake_slack.files_read = False
    assert (
        httpx.get(info["url_private"], headers=auth).headers["content-type"].startswith("text/html")
    )
    channel, message = fake_slack.file_message(info["id"])
    assert channel == CHANNEL and message["subtype"] == "file_share"
    assert message["files"][0]["shares"]["public"][CHANNEL][0]["ts"] == message["ts"]


def test_rate_limit_is_retried_by_slack_sdk(fake_slack: FakeSlack) -> None:
    client = WebClient(
        token=fake_slack.bot_token,
        base_url=fake_slack.base_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    fake_slack.fail_next("chat.postMessage", retry_after=0)
    client.chat_postMessage(channel=CHANNEL, text="eventually")
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [429, 200]
    assert [m["text"] for m in fake_slack.messages(CHANNEL)] == ["eventually"]


def test_injected_errors_and_server_errors(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.fail_next("chat.update", error="ratelimited")
    fake_slack.fail_next("chat.postMessage", status=500)
    assert _error(lambda: client.chat_update(channel=CHANNEL, ts="1.1", text="x")) == "ratelimited"
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=CHANNEL, text="x")
    assert info.value.response.status_code == 500
    raw = httpx.post(
        f"{fake_slack.base_url}auth.test",
        headers={"Authorization": f"Bearer {fake_slack.bot_token}"},
    )
    assert raw.json()["ok"] is True
    fake_slack.fail_next("auth.test", retry_after=7)
    limited = httpx.post(
        f"{fake_slack.base_url}auth.test",
        headers={"Authorization": f"Bearer {fake_slack.bot_token}"},
    )
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"


def test_rate_limit_window(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.rate_limit("chat.update", per_minute=2)
    ts = client.chat_postMessage(channel=CHANNEL, text="progress")["ts"]
    client.chat_update(channel=CHANNEL, ts=ts, text="1")
    client.chat_update(channel=CHANNEL, ts=ts, text="2")
    with pytest.raises(SlackApiError) as info:
        client.chat_update(channel=CHANNEL, ts=ts, text="3")
    assert info.value.response.status_code == 429
    assert int(info.value.response.headers["Retry-After"][0]) >= 1


def test_views_need_fresh_single_use_triggers(fake_slack: FakeSlack, client: WebClient) -> None:
    trigger = make_trigger_id()
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert (
        _error(lambda: client.views_open(trigger_id=trigger, view=MODAL)) == "exchanged_trigger_id"
    )
    old = f"{int(view['hash'].split('.')[0]) * 1000 - 10_000}.1.abc"
    assert _error(lambda: client.views_open(trigger_id=old, view=MODAL)) == "expired_trigger_id"
    fresh = make_trigger_id()
    fake_slack.expire_trigger(fresh)
    assert _error(lambda: client.views_open(trigger_id=fresh, view=MODAL)) == "expired_trigger_id"
    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    assert (
        _error(lambda: client.views_open(trigger_id=make_trigger_id(), view=no_submit))
        == "invalid_arguments"
    )
    updated = client.views_update(view_id=view["id"], view={**MODAL, "private_metadata": "job-1"})
    assert updated["view"]["private_metadata"] == "job-1"
    assert fake_slack.views()[0]["private_metadata"] == "job-1"
    assert _error(lambda: client.views_update(view_id="V0NOPE", view=MODAL)) == "not_found"
    client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": [{"type": "divider"}]})
    assert fake_slack.home_view("U0ALICE")["blocks"] == [{"type": "divider"}]  # type: ignore[index]
    assert fake_slack.home_view("U0BOB") is None


def test_users_groups_and_conversations(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.add_usergroup("S0TRAINERS", ["U0ALICE"])
    assert client.usergroups_users_list(usergroup="S0TRAINERS")["users"] == ["U0ALICE"]
    assert _error(lambda: client.usergroups_users_list(usergroup="S0NOPE")) == "no_such_subteam"
    assert client.users_info(user="U0ALICE")["user"]["name"] == "alice"
    assert client.conversations_info(channel=CHANNEL)["channel"]["name"] == "fine-tuning"
    dm = client.chat_postMessage(channel="U0BOB", text="direct")
    assert (
        dm["channel"].startswith("D") and fake_slack.messages(dm["channel"])[0]["text"] == "direct"
    )


def test_response_urls_record_ephemeral_replies(fake_slack: FakeSlack) -> None:
    url = fake_slack.new_response_url(channel=CHANNEL, user="U0ALICE")
    assert httpx.post(url, json={"text": "usage: /finetune help"}).text == "ok"
    assert fake_slack.ephemerals(CHANNEL, user="U0ALICE")[0]["via"] == "response_url"
    assert httpx.post(f"{fake_slack.url}/commands/T0/1/nope", json={"text": "x"}).status_code == 404
    replace = httpx.post(url, json={"replace_original": True, "text": "x"})
    assert replace.status_code == 400  # a slash command has no original message
    assert httpx.post(url, json={"response_type": "in_channel", "text": "public"}).text == "ok"
    assert fake_slack.messages(CHANNEL)[-1]["text"] == "public"


def test_wait_for_returns_value_or_explains_timeout(
    fake_slack: FakeSlack, client: WebClient
) -> None:
    client.chat_postMessage(channel=CHANNEL, text="done")
    assert fake_slack.wait_for(lambda: fake_slack.messages(CHANNEL), timeout=1)[0]["text"] == "done"
    with pytest.raises(AssertionError, match=r"chat\.postMessage"):
        fake_slack.wait_for(lambda: fake_slack.uploads(), timeout=0.1, message="an upload")


def test_the_shipped_required_arguments_match_slacks_spec() -> None:
    # The fake ships without the 1 MB spec; its table must still say what the spec says.
    spec = Path("/work/shared/data/slack/web_api_openapi_v2.json")
    assert shipped_required() == load_required(spec)
