"""No outside text comes out live: a property test over every Block Kit builder.

Hypothesis feeds strings full of Slack control sequences (``<!channel>``,
disguised links, user mentions, ready-made entities) into every place outside
text enters a builder: file names, findings quoting a dataset, model ids,
model answers, provider errors, labels. In every mrkdwn text (and every
message's ``text``) nothing may remain live: no ``<`` or ``>`` other than
tunebot's own mentions and permalinks, and every ``&`` starts one of the three
entities Slack defines, so an input entity reads as typed.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.blocks.ab import (
    build_pair_message,
    build_results,
    build_reveal,
    build_scoreboard,
    build_unblind_confirm,
    shown,
)
from bot.blocks.heldout import build_heldout_failure, build_heldout_report
from bot.blocks.home import HomeDataset, HomeJob, HomePage, HomeSession, build_home_view
from bot.blocks.job_thread import (
    JobLabel,
    ResultFacts,
    build_failure_message,
    build_progress_message,
    build_result_message,
    milestone_text,
)
from bot.blocks.jobs import (
    JobChoices,
    build_job_failed_text,
    build_job_started_blocks,
    build_job_status_text,
    build_list_text,
)
from bot.blocks.report import build_report_blocks, build_report_text
from bot.blocks.start_modal import Spend, build_start_modal
from bot.blocks.text import error_text
from bot.flows.cards import dataset_card
from core.errors import NextStep, TunebotError
from core.evaluation.arms import Answer
from core.evaluation.examples import Example
from core.evaluation.heldout import HeldoutResult, ItemResult, ModelStats
from core.evaluation.stats import Tally, summarize
from core.evaluation.votes import Scoreboard
from core.providers import Checkpoint
from core.store.datasets import Dataset
from core.training.milestones import FailureHint, Milestone
from core.validation.report import Finding
from tests.bot.blocks.test_ab import _response, _row, _session
from tests.bot.blocks.test_job_thread import state
from tests.bot.blocks.test_jobs import _job
from tests.bot.blocks.test_report import _report

CONTROL = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<https://evil.example|docs>",
    "<@U0ALICE>",
    "<#C0TUNEBOT>",
    "<!subteam^S123>",
    "&lt;!channel&gt;",
    "&amp;",
    "List<String>",
    "a > b & c < d",
    "<",
    ">",
    "&",
    "`",
    "*",
]
hostile = st.lists(st.one_of(st.sampled_from(CONTROL), st.text(max_size=8)), max_size=6).map(
    "".join
)
label = hostile.map(lambda s: s[:64])  # A/B labels are at most 64 characters

# tunebot's own markup: mentions of Slack ids and App Home permalinks.
OURS = re.compile(
    r"<[@#][A-Z0-9]+>|<slack://channel\?id=[A-Z0-9]+&message=[0-9.]+\|thread>"
    r"|<https://[a-z0-9.-]+/archives/[A-Z0-9]+/p[0-9]+(\?[a-z_]+=[0-9.]+(&amp;[a-z_]+=[A-Z0-9]+)*)?"
    r"\|open thread>"
    r"|<!date\^[0-9]+\^\{date_short_pretty\} \{time\}\|[0-9: -]+UTC>"
)
PERMALINK = "https://team.slack.com/archives/C0TUNEBOT/p1000?thread_ts=1.000&cid=C0TUNEBOT"
ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def mrkdwn_texts(value: Any, *, top: bool = True) -> list[str]:
    """Every text Slack parses as mrkdwn: message ``text``, mrkdwn objects, str results."""
    if isinstance(value, str):
        return [value] if top else []
    found: list[str] = []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" or (top and isinstance(value.get("text"), str)):
            found.append(value["text"])
        for key, item in value.items():
            if not (key == "text" and isinstance(item, str)):
                found += mrkdwn_texts(item, top=False)
    elif isinstance(value, list):
        for item in value:
            found += mrkdwn_texts(item, top=False)
    return found


def assert_inert(output: Any) -> None:
    texts = mrkdwn_texts(output)
    assert texts, "the builder produced no text to check"
    for text in texts:
        rest = OURS.sub("", text)
        assert "<" not in rest and ">" not in rest, text
        assert not ENTITY.search(rest), text


def _dataset(file_name: str) -> Dataset:
    return Dataset(
        short_id="ds-000001",
        slack_file_id="F1",
        channel_id="C0TUNEBOT",
        thread_ts="1.0",
        uploader_id="U0ALICE",
        file_name=file_name,
        sha256="0" * 64,
        verdict="ready",
        format="chat",
        examples=3,
        model="m",
        report_json="{}",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(text=hostile, other=hostile)
def test_validation_report_is_inert(text: str, other: str) -> None:
    finding = Finding(code="bad_role", severity="error", message=text, line=3, fix=other)
    report = _report(
        file_name=text,
        model=other,
        encoding=text,
        notes=[text],
        errors=[finding],
        warnings=[finding],
    )
    assert_inert(build_report_text(report, dataset_short_id="ds-1"))
    blocks = build_report_blocks(
        report, dataset_short_id="ds-1", providers=["openai"], fixed_file=True, costs=[(text, 1.0)]
    )
    assert_inert({"blocks": blocks})


@PROPERTY
@given(text=hostile, other=hostile)
def test_job_messages_are_inert(text: str, other: str) -> None:
    job = _job(
        base_model=text,
        provider_job_id=other,
        fine_tuned_model=text,
        status=other,
        provider=text,
        options_json=json.dumps({"n_epochs": other, "suffix": text, "method": "dpo", "beta": 0.2}),
        error_json=json.dumps({"message": other}),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert_inert(build_job_started_blocks(job))
    assert_inert(build_job_status_text(job))
    error = TunebotError(other, hint=text, next_step=NextStep.START_ON_WORKER)
    assert_inert(build_job_failed_text(provider=text, message=error_text(error)))
    assert_inert(build_list_text(datasets=[dataset_card(_dataset(text))], jobs=[job]))
    when = datetime(2026, 1, 1, tzinfo=UTC)
    page = HomePage(
        jobs=[
            HomeJob(job.short_id, status, text, other, text, "C0TUNEBOT", when, link=PERMALINK)
            for status in ("succeeded", "running", other)
        ],
        sessions=[HomeSession("ab-1", text, other, "C0TUNEBOT", when)],
        datasets=[HomeDataset("ds-1", other, text, 3, "C0TUNEBOT", when, link=PERMALINK)],
    )
    assert_inert(build_home_view(page))
    for method in ("supervised", "dpo"):
        modal = build_start_modal(
            provider=text,
            dataset_short_id="ds-1",
            file_name=other,
            models=[text or "m"],
            default_model=None,
            private_metadata="{}",
            spend=Spend(estimated_cost_usd=1.0, model=other, budget_usd=5.0),
            method=method,
        )
        assert_inert(modal["blocks"])


@PROPERTY
@given(text=hostile, other=hostile)
def test_job_thread_is_inert(text: str, other: str) -> None:
    label_ = JobLabel(
        short_id="job-1",
        provider=text,
        base_model=other,
        started_by="U0ALICE",
        uploader_id="U0BOB",
        fine_tuned_model=text,
        choices=JobChoices(suffix=text, method="dpo", beta=0.1),
        dataset_short_id="ds-1",
        offer_retry_on=(text, "worker"),
    )
    assert_inert(build_progress_message(state(), label_))
    facts = ResultFacts(train_loss=0.5, hyperparameters=((text, other),), reported_cost_usd=1.0)
    checkpoint = Checkpoint(model=other, step=3, train_loss=0.5, valid_loss=None)
    assert_inert(build_result_message(label_, facts, checkpoints=[checkpoint]))
    assert_inert(build_result_message(label_, ResultFacts()))
    failed = Milestone(
        key="final", kind="failed", error_message=text, error_code=other, hint=FailureHint(other)
    )
    assert_inert(milestone_text(failed, label_))
    assert_inert(build_failure_message(failed, label_))
    silence = Milestone(key="s", kind="silence", silent_since=datetime(2026, 1, 1, tzinfo=UTC))
    assert_inert(milestone_text(silence, label_, provider_failure=other))


@PROPERTY
@given(text=hostile, other=hostile, name_a=label, name_b=label)
def test_ab_messages_are_inert(text: str, other: str, name_a: str, name_b: str) -> None:
    session = dataclasses.replace(
        _session(candidate_label=name_a or "x", baseline_label=name_b or "y"),
        candidate_model=text,
        baseline_model=other,
    )
    board = Scoreboard(1, 1, 0, 1, 1, {"baseline": summarize(Tally(wins=1))}, {})
    assert_inert(build_scoreboard(session, board))
    answer = _response("candidate", text, "A", other or "x")
    failed = _response("baseline", other, "B", None, error=text)
    pair = build_pair_message(
        1, shown(answer, hidden_names=[]), shown(failed, hidden_names=[]), prompt_id=1
    )
    assert_inert(pair)
    assert_inert(build_reveal(session, number=1, choice="a", previous=None, revealed={"A": answer}))
    row = dataclasses.replace(_row(1), prompt=text)
    assert_inert(build_results(session, [row], board, train_pairs=1))
    assert_inert(build_unblind_confirm(session.short_id, 1))


@PROPERTY
@given(text=hostile, other=hostile)
def test_heldout_report_is_inert(text: str, other: str) -> None:
    example = Example([{"role": "user", "content": text}], other)
    item = ItemResult(0, example, Answer(text, None, 0.1, 5, 1), Answer(other, None, 0.2, 5, 1))
    result = HeldoutResult(
        items=[item],
        classification=False,
        candidate=ModelStats(text, 1, 0, 0.0, 0.0, 0.1, 0.1, 5, 1),
        baseline=ModelStats(other, 1, 0, 1.0, 1.0, 0.2, 0.2, 5, 1),
        reference=summarize(Tally(losses=1)),
        judge=None,
        worst=[item],
    )
    assert_inert(build_heldout_report(result, job_short_id="job-1", judge_model=other))
    assert_inert(build_heldout_failure("job-1", text))


def test_code_reads_as_written() -> None:
    """Escaped, ``List<String>`` and a typed ``&lt;`` render exactly as the user wrote them."""
    written = "List<String> & Map<K, V> &lt;"
    answer = shown(_response("candidate", "m", "A", written), hidden_names=[])
    blocks = build_pair_message(1, answer, answer, prompt_id=1)["blocks"]
    section = blocks[1]["text"]["text"]
    assert section.startswith("*Response A*\n")
    assert html.unescape(section.removeprefix("*Response A*\n")) == written
