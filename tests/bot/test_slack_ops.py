"""Web API helpers: capped downloads from trusted hosts only, WIP fallbacks."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import Mock

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.fakeslack.api import FakeSlack
from bot.slack_ops import allowed_file_hosts, download_file, react, update_wip
from core.errors import DatasetError
from tests.bot.harness import make_settings


def _hosts(fake: FakeSlack) -> frozenset[str]:
    return allowed_file_hosts(make_settings(Path("/tmp"), fake))


def _slack_error(error: str) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="",
        req_args={},
        data={"ok": False, "error": error},
        headers={},
        status_code=200,
    )
    return SlackApiError(error, response)


def test_allowed_hosts_are_slack_and_the_configured_api_host(fake_slack: FakeSlack) -> None:
    assert _hosts(fake_slack) == {
        "files.slack.com",
        f"127.0.0.1:{fake_slack.url.rsplit(':', 1)[1]}",
    }


def test_download_streams_the_file_with_the_bot_token(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    info = fake_slack.add_file("d.jsonl", b'{"a": 1}\n' * 1000, user="U0ALICE")
    dest = tmp_path / "d.jsonl"
    size = download_file(
        info["url_private_download"],
        token=fake_slack.bot_token,
        dest=dest,
        max_bytes=1_000_000,
        allowed_hosts=_hosts(fake_slack),
    )
    assert size == 9000 and dest.read_bytes() == b'{"a": 1}\n' * 1000


def test_the_cap_holds_whatever_the_event_said(fake_slack: FakeSlack, tmp_path: Path) -> None:
    info = fake_slack.add_file("d.jsonl", b"x" * 5 * 1024 * 1024, user="U0ALICE")
    with pytest.raises(DatasetError) as caught:
        download_file(
            info["url_private_download"],
            token=fake_slack.bot_token,
            dest=tmp_path / "d",
            max_bytes=1024 * 1024,
            allowed_hosts=_hosts(fake_slack),
        )
    assert caught.value.code == "file_too_large"


def test_login_page_means_no_access(fake_slack: FakeSlack, tmp_path: Path) -> None:
    info = fake_slack.add_file("d.jsonl", b"{}\n", user="U0ALICE")
    with pytest.raises(DatasetError) as caught:
        download_file(
            info["url_private_download"],
            token="xoxb-wrong",
            dest=tmp_path / "d",
            max_bytes=1024,
            allowed_hosts=_hosts(fake_slack),
        )
    assert caught.value.code == "file_not_accessible"
    assert "files:read" in caught.value.user_message()


def test_other_hosts_never_get_the_token(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        download_file(
            "https://evil.example.com/files-pri/T-F1/download/x.jsonl",
            token="xoxb-secret",
            dest=tmp_path / "d",
            max_bytes=1024,
            allowed_hosts=frozenset({"files.slack.com"}),
        )
    assert caught.value.code == "file_host_not_allowed"
    assert "xoxb" not in caught.value.user_message()


def test_update_wip_falls_back_to_text_when_blocks_are_refused() -> None:
    client = Mock(WebClient)
    client.chat_update.side_effect = [_slack_error("invalid_blocks"), None]
    update_wip(client, channel="C1", ts="1.0", text="report", blocks=[{"type": "section"}])
    assert client.chat_update.call_args_list[1].kwargs == {
        "channel": "C1",
        "ts": "1.0",
        "text": "report",
        "blocks": [],
    }


def test_update_wip_raises_other_errors() -> None:
    client = Mock(WebClient)
    client.chat_update.side_effect = _slack_error("channel_not_found")
    with pytest.raises(SlackApiError):
        update_wip(client, channel="C1", ts="1.0", text="t", blocks=[])


def test_reacting_twice_is_not_an_error() -> None:
    client = Mock(WebClient)
    client.reactions_add.side_effect = _slack_error("already_reacted")
    react(client, channel="C1", ts="1.0", name="hourglass_flowing_sand", add=True)
