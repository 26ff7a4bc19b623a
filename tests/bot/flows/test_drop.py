"""File drop -> report, end to end: signed events into the real bolt app over HTTP,
FakeSlack on loopback for every Web API call and file download."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bot.fakeslack.events import event_callback, message_event
from core.store.datasets import recent_datasets
from tests.bot.harness import CHANNEL, RunningBot, make_settings, start_bot

WAIT = 20.0


def chat_jsonl(n: int = 20) -> bytes:
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You answer questions about tunebot."},
                    {"role": "user", "content": f"Question number {i}?"},
                    {"role": "assistant", "content": f"Answer number {i}."},
                ]
            }
        )
        for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


def thread_replies(bot: RunningBot, ts: str) -> list[dict[str, Any]]:
    """The bot's messages in a thread, leaving out the ones that share attached files."""
    return [
        m for m in bot.slack.bot_messages(CHANNEL, ts) if m.get("ts") != ts and not m.get("files")
    ]


def wait_report(bot: RunningBot, ts: str) -> dict[str, Any]:
    """The bot's report message in the thread once it has blocks (the WIP became the report)."""
    found = bot.slack.wait_for(
        lambda: [m for m in thread_replies(bot, ts) if m.get("blocks")],
        timeout=WAIT,
        message="the report",
    )
    return found[0]


def wait_text(bot: RunningBot, ts: str, needle: str) -> dict[str, Any]:
    found = bot.slack.wait_for(
        lambda: [m for m in thread_replies(bot, ts) if needle in (m.get("text") or "")],
        timeout=WAIT,
        message=repr(needle),
    )
    return found[0]


def test_drop_gets_a_report_with_json_and_hourglass_removed(bot: RunningBot) -> None:
    _file_id, message, _ = bot.drop_file("faq.jsonl", chat_jsonl())
    report = wait_report(bot, message["ts"])
    assert "Ready to fine-tune" in report["text"]
    texts = json.dumps(report["blocks"])
    assert "20 examples" in texts and "ds-" in texts
    bot.slack.wait_for(lambda: bot.slack.uploads(CHANNEL, message["ts"]), timeout=WAIT)
    uploads = bot.slack.uploads(CHANNEL, message["ts"])
    assert [u["filename"] for u in uploads] == ["faq.report.json"]
    # No provider configured: no start buttons.
    assert '"actions"' not in texts
    bot.slack.wait_for(
        lambda: list(bot.slack.reactions(CHANNEL, message["ts"])) == ["white_check_mark"],
        timeout=WAIT,
    )
    (dataset,) = recent_datasets(bot.ctx.engine, channel_id=CHANNEL)
    assert dataset.uploader_id == "U0ALICE" and dataset.examples == 20 and len(dataset.sha256) == 64


def test_retried_event_gets_one_report(bot: RunningBot) -> None:
    info = bot.slack.add_file("faq.jsonl", chat_jsonl(), user="U0ALICE", channel=CHANNEL)
    channel, message = bot.slack.file_message(info["id"])
    envelope = event_callback(message_event(channel, message))
    first = bot.sender.send_envelope(envelope)
    retries = [bot.sender.send_envelope(envelope, retry_num=n) for n in (1, 2)]
    assert [r.status_code for r in (first, *retries)] == [200, 200, 200]
    wait_report(bot, message["ts"])
    bot.slack.wait_for(lambda: bot.slack.uploads(CHANNEL, message["ts"]), timeout=WAIT)
    assert len(thread_replies(bot, message["ts"])) == 1
    assert len(bot.slack.uploads(CHANNEL, message["ts"])) == 1
    assert len(recent_datasets(bot.ctx.engine, channel_id=CHANNEL)) == 1


def test_oversize_file_is_refused_before_download(tmp_path, fake_slack) -> None:  # type: ignore[no-untyped-def]
    running = start_bot(make_settings(tmp_path, fake_slack, TUNEBOT_MAX_FILE_BYTES=100), fake_slack)
    try:
        _, message, _ = running.drop_file("big.jsonl", chat_jsonl(5))
        reply = wait_text(running, message["ts"], "over the")
        assert "limit" in reply["text"]
        assert not [c for c in fake_slack.calls() if c.method == "files.info"]
        assert recent_datasets(running.ctx.engine, channel_id=CHANNEL) == []
    finally:
        running.stop()


def test_html_instead_of_file_asks_for_files_read(bot: RunningBot) -> None:
    bot.slack.files_read = False  # Slack sends its login page to a token without files:read
    _, message, _ = bot.drop_file("faq.jsonl", chat_jsonl())
    reply = wait_text(bot, message["ts"], "files:read")
    assert "invite" in reply["text"]


def test_bad_dataset_lists_errors_by_code_with_lines(bot: RunningBot) -> None:
    bad = chat_jsonl(3) + b"{not json\n" + b'{"messages": []}\n' + b"{also bad\n"
    _, message, _ = bot.drop_file("broken.jsonl", bad)
    report = wait_report(bot, message["ts"])
    assert "Not ready" in report["text"]
    errors = json.dumps(report["blocks"])
    assert "line" in errors and "4" in errors


def test_converted_csv_gets_the_fixed_jsonl_attached(bot: RunningBot) -> None:
    rows = "prompt,completion\n" + "".join(f"Question {i}?,Answer {i}.\n" for i in range(30))
    _, message, _ = bot.drop_file("pairs.csv", rows.encode())
    wait_report(bot, message["ts"])
    bot.slack.wait_for(
        lambda: len(bot.slack.uploads(CHANNEL, message["ts"])) == 2, timeout=WAIT, message="uploads"
    )
    names = sorted(u["filename"] for u in bot.slack.uploads(CHANNEL, message["ts"]))
    assert names == ["pairs.fixed.jsonl", "pairs.report.json"]


def test_bad_or_stale_signature_is_401_and_nothing_happens(bot: RunningBot) -> None:
    info = bot.slack.add_file("faq.jsonl", chat_jsonl(), user="U0ALICE", channel=CHANNEL)
    channel, message = bot.slack.file_message(info["id"])
    for signature in ("bad", "stale", "missing"):
        response = bot.sender.event(message_event(channel, message), signature=signature)  # type: ignore[arg-type]
        assert response.status_code == 401
    command = bot.sender.command("list", user_id="U0ALICE", channel_id=CHANNEL, signature="bad")
    assert command.status_code == 401
    assert [c.method for c in bot.slack.calls()] == ["auth.test"]


def test_slack_429_on_post_message_is_retried(bot: RunningBot) -> None:
    bot.slack.fail_next("chat.postMessage", retry_after=1)
    _, message, _ = bot.drop_file("faq.jsonl", chat_jsonl())
    wait_report(bot, message["ts"])
    posts = [c for c in bot.slack.calls() if c.method == "chat.postMessage"]
    assert [c.status for c in posts] == [429, 200]


def test_healthz(bot: RunningBot) -> None:
    assert httpx.get(f"{bot.url}/healthz").json() == {"ok": True}


def test_the_file_gets_a_check_or_a_cross(bot: RunningBot) -> None:
    _, good, _ = bot.drop_file("faq.jsonl", chat_jsonl())
    _, bad, _ = bot.drop_file("broken.jsonl", b"{not json\n" * 12)
    for message, emoji in ((good, "white_check_mark"), (bad, "x")):
        wait_report(bot, message["ts"])
        bot.slack.wait_for(
            lambda m=message, e=emoji: list(bot.slack.reactions(CHANNEL, m["ts"])) == [e],
            timeout=WAIT,
            message=emoji,
        )


def test_unfixable_file_gets_no_empty_fixed_file(bot: RunningBot) -> None:
    old_keys = "".join(
        json.dumps({"prompt": f"Q{i}?", "chosen": f"good {i}", "rejected": f"bad {i}"}) + "\n"
        for i in range(12)
    )
    _, message, _ = bot.drop_file("dpo_old_keys.jsonl", old_keys.encode())
    report = wait_report(bot, message["ts"])
    bot.slack.wait_for(lambda: bot.slack.uploads(CHANNEL, message["ts"]), timeout=WAIT)
    names = [u["filename"] for u in bot.slack.uploads(CHANNEL, message["ts"])]
    assert names == ["dpo_old_keys.report.json"]  # no 0-byte fixed file
    dumped = json.dumps(report["blocks"])
    assert "jobs train on it" not in dumped and "Validate fixed file" not in dumped


def test_validate_fixed_file_reports_on_the_fix_in_the_thread(bot: RunningBot) -> None:
    # Twelve good examples and one that is not JSON: --fix drops it, the rest is ready.
    data = chat_jsonl(12) + b"{not json\n"
    _, message, _ = bot.drop_file("mostly.jsonl", data)
    report = wait_report(bot, message["ts"])
    assert report["blocks"][1]["text"]["text"].startswith("*Fix these first*")
    assert "jobs train on it" not in json.dumps(report["blocks"])
    bot.slack.wait_for(
        lambda: len(bot.slack.uploads(CHANNEL, message["ts"])) == 2, timeout=WAIT, message="fix"
    )
    response = bot.sender.action(
        "validate_fixed", user_id="U0ALICE", channel_id=CHANNEL, message=report
    )
    assert response.status_code == 200
    second = bot.slack.wait_for(
        lambda: [
            m
            for m in thread_replies(bot, message["ts"])
            if "mostly.fixed.jsonl" in (m.get("text") or "") and m.get("blocks")
        ],
        timeout=WAIT,
        message="the fixed file's report",
    )[0]
    assert "Ready to fine-tune" in second["text"] and "12 examples" in second["text"]
