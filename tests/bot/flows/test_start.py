"""Starting jobs end to end: report button -> modal -> job on FakeOpenAI, and
``/finetune start``; authorisation, spend cap, exactly-once, permission denied."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.fakeslack.api import FakeSlack
from bot.fakeslack.payloads import modal_state_values
from core.store.engine import session_scope
from core.store.jobs import TrainingJob
from tests.bot.flows.test_drop import WAIT, chat_jsonl, thread_replies, wait_report, wait_text
from tests.bot.harness import ALICE, BOB, CHANNEL, RunningBot, make_settings, start_bot
from tests.fakes.openai_api import FakeOpenAI


def start_openai_bot(
    tmp_path: Path, slack: FakeSlack, openai_api: FakeOpenAI, **extra: Any
) -> RunningBot:
    settings = make_settings(
        tmp_path,
        slack,
        OPENAI_API_KEY=openai_api.api_key,
        OPENAI_BASE_URL=openai_api.base_url,
        TUNEBOT_WORKER_URL=openai_api.url,  # the worker speaks the same protocol
        TUNEBOT_WORKER_API_KEY=openai_api.api_key,
        **extra,
    )
    return start_bot(settings, slack)


@pytest.fixture
def bot(tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI) -> Iterator[RunningBot]:
    running = start_openai_bot(tmp_path, fake_slack, fake_openai, TUNEBOT_ADMINS="U0ALICE")
    yield running
    running.stop()


def dropped_report(bot: RunningBot) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Drop a good file; return (its message, the report message, the dataset short id)."""
    _, message, _ = bot.drop_file("faq.jsonl", chat_jsonl(30))
    report = wait_report(bot, message["ts"])
    (actions,) = [b for b in report["blocks"] if b["type"] == "actions"]
    return message, report, actions["elements"][0]["value"]


def open_modal(
    bot: RunningBot, report: dict[str, Any], short_id: str, *, user: str, provider: str
) -> dict[str, Any]:
    before = len(bot.slack.views())
    response = bot.sender.action(
        f"start_job:{provider}", user_id=user, value=short_id, channel_id=CHANNEL, message=report
    )
    assert response.status_code == 200
    views = bot.slack.wait_for(
        lambda: bot.slack.views()[before:], timeout=WAIT, message="views.open"
    )
    return views[0]


def submit(bot: RunningBot, view: dict[str, Any], *, user: str, **chosen: str) -> Any:
    return bot.sender.view_submission(
        "start_job_modal",
        modal_state_values(view, **chosen),
        user_id=user,
        private_metadata=view["private_metadata"],
        view=view,
    )


def jobs(bot: RunningBot) -> list[TrainingJob]:
    with session_scope(bot.ctx.engine) as session:
        return list(session.exec(select(TrainingJob).order_by(col(TrainingJob.id))))


def test_button_and_modal_start_a_job_in_the_thread(
    bot: RunningBot, fake_openai: FakeOpenAI
) -> None:
    message, report, short_id = dropped_report(bot)
    labels = [
        e["text"]["text"] for b in report["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert labels == ["Fine-tune on worker", "Fine-tune on OpenAI"]
    view = open_modal(bot, report, short_id, user=ALICE, provider="openai")
    assert view["callback_id"] == "start_job_modal"
    response = submit(bot, view, user=ALICE, epochs="2", suffix="faq-bot")
    assert response.status_code == 200 and response.text == ""
    started = wait_text(bot, message["ts"], "started on OpenAI")
    (job,) = fake_openai.jobs()
    assert job["model"] == "gpt-4o-mini-2024-07-18" and job["user_provided_suffix"] == "faq-bot"
    assert job["method"]["supervised"]["hyperparameters"]["n_epochs"] == 2
    (row,) = jobs(bot)
    assert row.provider_job_id == job["id"] and row.progress_ts == started["ts"]
    assert row.started_by == ALICE and row.thread_ts == message["ts"]


def test_modal_field_errors_keep_the_modal_open(bot: RunningBot) -> None:
    _, report, short_id = dropped_report(bot)
    view = open_modal(bot, report, short_id, user=ALICE, provider="worker")
    response = submit(bot, view, user=ALICE, suffix="no spaces allowed!")
    assert response.json()["response_action"] == "errors"
    assert "suffix" in response.json()["errors"]
    assert jobs(bot) == []


def test_command_starts_a_job(bot: RunningBot, fake_openai: FakeOpenAI) -> None:
    message, _, short_id = dropped_report(bot)
    response = bot.sender.command(
        f"start {short_id} --provider worker --epochs 1 --lora-rank 8",
        user_id=ALICE,
        channel_id=CHANNEL,
    )
    assert response.status_code == 200
    replies = bot.slack.wait_for(lambda: bot.slack.responses(user=ALICE), timeout=WAIT)
    assert "Started job" in replies[0]["text"]
    (job,) = fake_openai.jobs()
    assert job["method"]["supervised"]["hyperparameters"]["lora_r"] == 8
    wait_text(bot, message["ts"], "started on the worker")


def test_unauthorised_user_is_refused(bot: RunningBot, fake_openai: FakeOpenAI) -> None:
    _, report, short_id = dropped_report(bot)
    bot.sender.action(
        "start_job:openai", user_id=BOB, value=short_id, channel_id=CHANNEL, message=report
    )
    refusal = bot.slack.wait_for(lambda: bot.slack.ephemerals(user=BOB), timeout=WAIT)
    assert "Only tunebot admins" in refusal[0]["text"]
    bot.sender.command(f"start {short_id}", user_id=BOB, channel_id=CHANNEL)
    bot.slack.wait_for(lambda: bot.slack.responses(user=BOB), timeout=WAIT)
    assert bot.slack.views() == [] and fake_openai.jobs() == []


def test_usergroup_member_may_start(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    fake_slack.add_usergroup("S0TRAINERS", ["U0BOB"])
    running = start_openai_bot(
        tmp_path, fake_slack, fake_openai, TUNEBOT_ALLOWED_USERGROUP="S0TRAINERS"
    )
    try:
        message, _, short_id = dropped_report(running)
        running.sender.command(
            f"start {short_id} --provider openai", user_id=BOB, channel_id=CHANNEL
        )
        wait_text(running, message["ts"], "started on OpenAI")
        running.sender.command(
            f"start {short_id} --provider worker", user_id=ALICE, channel_id=CHANNEL
        )
        refusal = fake_slack.wait_for(lambda: fake_slack.responses(user=ALICE), timeout=WAIT)
        assert "S0TRAINERS" in refusal[0]["text"]
    finally:
        running.stop()


def test_budget_exceeded_says_by_how_much(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    running = start_openai_bot(tmp_path, fake_slack, fake_openai, TUNEBOT_MONTHLY_BUDGET_USD=0.0001)
    try:
        _, _, short_id = dropped_report(running)
        running.sender.command(
            f"start {short_id} --provider openai --epochs 3", user_id=ALICE, channel_id=CHANNEL
        )
        reply = fake_slack.wait_for(lambda: fake_slack.responses(user=ALICE), timeout=WAIT)[0][
            "text"
        ]
        assert "over the $0.00 monthly budget" in reply and "Not started" in reply
        assert fake_openai.jobs() == [] and jobs(running) == []
        # The worker costs nothing, so it still starts.
        running.sender.command(
            f"start {short_id} --provider worker", user_id=ALICE, channel_id=CHANNEL
        )
        fake_slack.wait_for(lambda: fake_openai.jobs(), timeout=WAIT)
    finally:
        running.stop()


def test_double_submit_makes_one_job(bot: RunningBot, fake_openai: FakeOpenAI) -> None:
    message, report, short_id = dropped_report(bot)
    view = open_modal(bot, report, short_id, user=ALICE, provider="openai")
    other = open_modal(bot, report, short_id, user=ALICE, provider="openai")
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def press(target: dict[str, Any]) -> None:
        barrier.wait()
        statuses.append(submit(bot, target, user=ALICE).status_code)

    threads = [threading.Thread(target=press, args=(v,)) for v in (view, view, other, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4
    wait_text(bot, message["ts"], "started on OpenAI")
    bot.slack.wait_for(lambda: bot.slack.ephemerals(user=ALICE), timeout=WAIT)  # "already training"
    bot.ctx.pool.shutdown(wait=True)  # every submission has been handled
    assert len(fake_openai.jobs()) == 1
    assert len(jobs(bot)) == 1
    assert len([m for m in thread_replies(bot, message["ts"]) if "started" in m["text"]]) == 1


def test_permission_denied_points_to_the_worker(bot: RunningBot, fake_openai: FakeOpenAI) -> None:
    fake_openai.deny_job_creation()
    message, _, short_id = dropped_report(bot)
    bot.sender.command(f"start {short_id} --provider openai", user_id=ALICE, channel_id=CHANNEL)
    failure = wait_text(bot, message["ts"], "Could not start")
    assert "2027-01-06" in failure["text"] and "worker" in failure["text"]
    (row,) = jobs(bot)
    assert row.status == "failed" and row.active_key is None
    assert json.loads(row.error_json or "{}")["code"] == "fine_tuning_unavailable"
    assert "sk-" not in failure["text"]


def test_status_cancel_and_models_commands(bot: RunningBot, fake_openai: FakeOpenAI) -> None:
    message, _, short_id = dropped_report(bot)
    bot.sender.command(f"start {short_id} --provider openai", user_id=ALICE, channel_id=CHANNEL)
    wait_text(bot, message["ts"], "started on OpenAI")
    # The start command's own answer may land after the thread message: wait for
    # it, or reply_to below would take it for the answer to the next command.
    bot.slack.wait_for(
        lambda: [r for r in bot.slack.responses(user=ALICE) if "Started job" in r["text"]],
        timeout=WAIT,
    )
    (row,) = jobs(bot)

    def reply_to(text: str, user: str = ALICE) -> str:
        before = len(bot.slack.responses(user=user))
        assert bot.sender.command(text, user_id=user, channel_id=CHANNEL).status_code == 200
        found = bot.slack.wait_for(lambda: bot.slack.responses(user=user)[before:], timeout=WAIT)
        return str(found[0]["text"])

    assert f"Job `{row.short_id}`" in reply_to(f"status {row.short_id}")
    assert "Only tunebot admins" in reply_to(f"cancel {row.short_id}", user=BOB)
    assert "cancel" in reply_to(f"cancel {row.short_id}")
    assert fake_openai.job(row.provider_job_id or "")["status"] == "cancelled"
    assert "cancelled" in reply_to(f"status {row.provider_job_id}")
    assert "already cancelled" in reply_to(f"cancel {row.short_id}")
    models = reply_to("models")
    assert "*the worker* (worker)" in models and "*OpenAI* (openai)" in models
    assert "gpt-4o-mini-2024-07-18" in models


def test_after_permission_denied_openai_is_no_longer_offered(
    bot: RunningBot, fake_openai: FakeOpenAI
) -> None:
    fake_openai.deny_job_creation()
    message, _, short_id = dropped_report(bot)
    bot.sender.command(f"start {short_id} --provider openai", user_id=ALICE, channel_id=CHANNEL)
    wait_text(bot, message["ts"], "Could not start")
    # The next report remembers the refusal (from the job rows, so restarts do too).
    _, again, _ = bot.drop_file("more.jsonl", chat_jsonl(30))
    report = wait_report(bot, again["ts"])
    labels = [
        e["text"]["text"] for b in report["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert labels == ["Fine-tune on worker"]


def test_modal_shows_cost_and_budget_and_refuses_over_budget_inside_the_form(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    running = start_openai_bot(
        tmp_path, fake_slack, fake_openai, TUNEBOT_ADMINS=ALICE, TUNEBOT_MONTHLY_BUDGET_USD=0.0001
    )
    try:
        _, report, short_id = dropped_report(running)
        view = open_modal(running, report, short_id, user=ALICE, provider="openai")
        shown = json.dumps(view["blocks"])
        assert "Estimated cost: *$" in shown and "budget left this month" in shown
        response = submit(running, view, user=ALICE, epochs="3")
        answer = response.json()
        assert answer["response_action"] == "errors"
        assert "monthly budget" in answer["errors"]["base_model"]
        assert fake_openai.jobs() == [] and jobs(running) == []
    finally:
        running.stop()


def test_modal_opens_in_time_when_the_model_list_is_slow(
    bot: RunningBot, fake_openai: FakeOpenAI
) -> None:
    _, report, short_id = dropped_report(bot)
    fake_openai.latency = 4.0  # listing models takes longer than Slack's 3-second trigger
    view = open_modal(bot, report, short_id, user=ALICE, provider="openai")
    (model,) = [b for b in view["blocks"] if b.get("block_id") == "base_model"]
    assert model["element"]["type"] == "plain_text_input"  # type the id; the list is coming
    assert not [c for c in bot.slack.calls("views.open") if c.status != 200]
    fake_openai.latency = 0.0
    # The list refreshed in the background: the next click gets it from the cache at once.
    bot.slack.wait_for(lambda: bot.ctx.model_lists.get(bot.ctx.providers["openai"]), timeout=WAIT)
    view = open_modal(bot, report, short_id, user=ALICE, provider="openai")
    (model,) = [b for b in view["blocks"] if b.get("block_id") == "base_model"]
    assert model["element"]["type"] == "static_select"


def preference_jsonl(n: int = 12) -> bytes:
    rows = (
        json.dumps(
            {
                "input": {"messages": [{"role": "user", "content": f"Question {i}?"}]},
                "preferred_output": [{"role": "assistant", "content": f"Good answer {i}."}],
                "non_preferred_output": [{"role": "assistant", "content": f"Bad answer {i}."}],
            }
        )
        for i in range(n)
    )
    return "".join(row + "\n" for row in rows).encode()


def test_a_dropped_preference_file_starts_a_dpo_job(
    bot: RunningBot, fake_openai: FakeOpenAI
) -> None:
    content = preference_jsonl()
    _, message, _ = bot.drop_file("prefs.jsonl", content)
    report = wait_report(bot, message["ts"])
    (actions,) = [b for b in report["blocks"] if b["type"] == "actions"]
    labels = [e["text"]["text"] for e in actions["elements"]]
    assert labels == ["Train with DPO on worker", "Train with DPO on OpenAI"]
    view = open_modal(bot, report, actions["elements"][0]["value"], user=ALICE, provider="openai")
    assert view["title"]["text"] == "Start DPO training"
    assert "beta" in [b.get("block_id") for b in view["blocks"]]
    assert submit(bot, view, user=ALICE, beta="0.2").status_code == 200
    wait_text(bot, message["ts"], "started on OpenAI")
    (job,) = fake_openai.jobs()
    assert job["method"]["type"] == "dpo"
    assert job["method"]["dpo"]["hyperparameters"]["beta"] == 0.2
    assert fake_openai.file_content(job["training_file"]) == content
    (row,) = jobs(bot)
    assert json.loads(row.options_json)["method"] == "dpo"


def test_a_chat_file_cannot_be_started_as_dpo_nor_preferences_as_supervised(
    bot: RunningBot, fake_openai: FakeOpenAI
) -> None:
    """A forged modal (method swapped in its metadata) is refused before any upload."""
    _, message, _ = bot.drop_file("prefs.jsonl", preference_jsonl())
    report = wait_report(bot, message["ts"])
    (actions,) = [b for b in report["blocks"] if b["type"] == "actions"]
    view = open_modal(bot, report, actions["elements"][0]["value"], user=ALICE, provider="openai")
    meta = {**json.loads(view["private_metadata"]), "method": "supervised"}
    forged = {**view, "private_metadata": json.dumps(meta)}
    forged["blocks"] = [b for b in view["blocks"] if b.get("block_id") != "beta"]
    assert submit(bot, forged, user=ALICE).status_code == 200
    refusal = bot.slack.wait_for(
        lambda: bot.slack.ephemerals(CHANNEL, ALICE), timeout=WAIT, message="refusal"
    )
    assert "train with DPO" in refusal[0]["text"]
    assert fake_openai.jobs() == [] and fake_openai.files() == []
