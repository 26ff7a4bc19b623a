"""Block Kit for A/B sessions: scoreboard, blind response pairs, reveals, results.

Blinding lives here as much as in core: the public pair message never names a
model (failure messages are scrubbed of model ids too); only the ephemeral
reveal, shown to one voter after voting, says which slot was which.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.ids import AB_RESULTS_ACTION_ID, TRAIN_ON_VOTES_ACTION_ID, VOTE_ACTION_PREFIX
from bot.blocks.limits import MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT, truncate
from bot.blocks.mrkdwn import escape
from bot.blocks.text import (
    AB_HOW_TO,
    OUTCOME_WORDS,
    VOTE_BUTTONS,
    VOTE_LABELS,
    p_value_text,
    plural,
)
from core.evaluation.export import PromptRow
from core.evaluation.stats import Summary, Tally, Verdict, rule_text
from core.evaluation.votes import Scoreboard
from core.store.evaluation import BASELINE, CANDIDATE, FEW_SHOT

RESPONSE_CHARS = 2800
PROMPT_QUOTE_CHARS = 500
TABLE_PROMPT_CHARS = 48


@dataclass(frozen=True)
class AbCard:
    """An A/B session as its messages show it (``bot.flows.cards.ab_card`` makes one)."""

    short_id: str
    candidate_model: str
    baseline_model: str
    candidate_label: str = "fine-tuned"
    baseline_label: str = "base"
    few_shot: bool = False  # a third arm: the base model with training examples as a prompt
    min_decisive: int = 10
    alpha: float = 0.05


@dataclass(frozen=True)
class AbAnswer:
    """One model's answer to one prompt; ``position`` is the slot it was shown in."""

    arm: str
    model: str
    position: str
    text: str | None
    error: str | None = None


@dataclass(frozen=True)
class ShownResponse:
    """A response as the public message shows it."""

    position: str
    text: str
    truncated: bool
    failed: bool


def arm_label(session: AbCard, arm: str) -> str:
    """What people call an arm: "fine-tuned", "base", "base + few-shot prompt" (escaped:
    labels are chosen by people)."""
    return escape(_arm_name(session, arm))


def _arm_name(session: AbCard, arm: str) -> str:
    if arm == FEW_SHOT:
        return f"{session.baseline_label} + few-shot prompt"
    return session.baseline_label if arm == BASELINE else session.candidate_label


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=truncate(text, MAX_SECTION_TEXT))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _counts(t: Tally, *, candidate: str, both_bad: bool) -> str:
    counts = f"{candidate} wins *{t.wins}* · ties *{t.ties}* · losses *{t.losses}*"
    return counts + (f" · both bad *{t.both_bad}*" if both_bad else "")


def summary_lines(
    summary: Summary,
    *,
    candidate: str,
    opponent: str,
    both_bad: bool = True,
    votes: Tally | None = None,
) -> list[str]:
    """Counts, win rate with its Wilson interval, sign test, position bias, verdict.

    ``both_bad`` is False where that outcome does not exist (held-out comparisons).
    ``votes``: an A/B session's per-vote counts, shown first; its summary is over
    prompts decided by majority, and the lines say so.
    """
    counts = _counts(summary.tally, candidate=candidate, both_bad=both_bad)
    verdict = summary.verdict.text(candidate=candidate, baseline=opponent)
    lines = [f"Verdict: *{verdict}*", counts]
    position = "Position A chosen in {} of decisive choices"
    if votes is not None:
        lines = [
            lines[0],
            "Votes: " + _counts(votes, candidate=candidate, both_bad=both_bad),
            "Prompts, each decided by the majority of its votes: " + counts,
        ]
        position = "Position A won {} of decided prompts"
    if summary.win_rate is not None:
        lines.append(
            f"Win rate over prompts (ties excluded): *{_pct(summary.win_rate)}* "
            f"(95% Wilson interval {_pct(summary.ci_low)}–{_pct(summary.ci_high)}) · "
            f"exact sign test {p_value_text(summary.p_value)}"
        )
    if summary.position_a_rate is not None:
        lines.append(position.format(_pct(summary.position_a_rate)))
    return lines


def _opponent_sections(session: AbCard, board: Scoreboard) -> list[Block]:
    """Per opponent: the votes as cast, then the statistics over per-prompt decisions."""
    sections: list[Block] = []
    for opponent, summary in board.summaries.items():
        label = arm_label(session, opponent)
        lines = summary_lines(
            summary,
            candidate=escape(session.candidate_label),
            opponent=label,
            votes=board.vote_tallies.get(opponent, Tally()),
        )
        sections.append(SectionBlock(text=_md(f"*Against {label}*\n" + "\n".join(lines))))
    return sections


def build_scoreboard(session: AbCard, board: Scoreboard) -> dict[str, Any]:
    """The session's root message: what is compared, how to vote, the score so far."""
    arms = (
        f"*{arm_label(session, CANDIDATE)}* `{escape(session.candidate_model)}` vs "
        f"*{arm_label(session, BASELINE)}* `{escape(session.baseline_model)}`"
    )
    if session.few_shot:
        few_shot = arm_label(session, FEW_SHOT)
        arms += f" and *{few_shot}* (up to 5 training examples in the system prompt)"
    counts = (
        f"Prompts: *{board.prompts}* ({board.counted_prompts} counted"
        + (f", {board.failed_prompts} not counted: a model failed" if board.failed_prompts else "")
        + f") · votes: *{board.votes}* from {plural(board.voters, 'person', 'people')}"
    )
    verdicts = [
        s.verdict.text(candidate=escape(session.candidate_label), baseline=arm_label(session, o))
        + (f" (vs {arm_label(session, o)})" if len(board.summaries) > 1 else "")
        for o, s in board.summaries.items()
    ]
    headline = "; ".join(verdicts) or Verdict.NOT_ENOUGH.value
    blocks: list[Block] = [
        SectionBlock(text=_md(f":vs: *A/B test `{session.short_id}`: {headline}*\n{arms}")),
        SectionBlock(text=_md(counts)),
    ]
    blocks.extend(_opponent_sections(session, board))
    blocks += [DividerBlock(), SectionBlock(text=_md(AB_HOW_TO))]
    blocks.append(
        ContextBlock(
            elements=[
                _md(escape(rule_text(min_decisive=session.min_decisive, alpha=session.alpha)))
            ]
        )
    )
    text = f"A/B test {session.short_id}: {headline} ({plural(board.votes, 'vote')})"
    return {"text": text, "blocks": [b.to_dict() for b in blocks]}


def scrub(text: str, names: Iterable[str]) -> str:
    """Remove model ids from a text shown publicly (provider errors quote them)."""
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        text = text.replace(name, "[model]")
    return text


def shown(response: AbAnswer, *, hidden_names: Sequence[str]) -> ShownResponse:
    """The public form of a response: truncated, or a scrubbed failure note."""
    if response.error is not None or response.text is None:
        reason = escape(scrub(response.error or "no answer", hidden_names))
        return ShownResponse(response.position, f"_No answer: {reason}_", False, True)
    text = response.text.strip()
    if not text:
        return ShownResponse(response.position, "_(empty answer)_", False, False)
    # Cut, then escape: a model's answer may hold <!channel> or a disguised link.
    cut = truncate(text, RESPONSE_CHARS)
    return ShownResponse(response.position, escape(cut), cut != text, False)


def quote(text: str, limit: int = PROMPT_QUOTE_CHARS) -> str:
    """A prompt as a mrkdwn quote, escaped and cut, so a pair stands on its own."""
    lines = escape(truncate(text.strip(), limit)).splitlines() or [""]
    return "\n".join(f"> {line}" for line in lines)


def build_pair_message(
    number: int,
    response_a: ShownResponse,
    response_b: ShownResponse,
    *,
    prompt_id: int,
    prompt: str = "",
) -> dict[str, Any]:
    """The prompt quoted, Response A and Response B without model names, and the vote buttons."""
    head = f"*Prompt {number}*: two answers, order random"
    if prompt.strip():
        head += "\n" + quote(prompt)
    blocks: list[Block] = [SectionBlock(text=_md(head))]
    for side in (response_a, response_b):
        blocks.append(SectionBlock(text=_md(f"*Response {side.position}*\n{side.text}")))
    failed = response_a.failed or response_b.failed
    if failed:
        blocks.append(
            ContextBlock(
                elements=[
                    _md(
                        "A model did not answer, so this prompt is not counted. "
                        "Post it again to retry."
                    )
                ]
            )
        )
    else:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text=label, action_id=VOTE_ACTION_PREFIX + key, value=str(prompt_id)
                    )
                    for key, label in VOTE_BUTTONS
                ]
            )
        )
        note = "Model names are hidden until you vote."
        if response_a.truncated or response_b.truncated:
            note += " Long answers are cut here; the full texts are attached below."
        blocks.append(ContextBlock(elements=[_md(note)]))
    text = f"Prompt {number}: Response A and Response B" + (" (not counted)" if failed else "")
    return {"text": text, "blocks": [b.to_dict() for b in blocks]}


def build_wip_text(number: int) -> str:
    return f":hourglass_flowing_sand: Prompt {number}: both models are answering…"


def build_reveal(
    session: AbCard,
    *,
    number: int,
    choice: str,
    previous: str | None,
    revealed: dict[str, AbAnswer],
) -> str:
    """The ephemeral reveal for one voter: their vote and which model was which."""
    if previous is None:
        head = f"You voted *{VOTE_LABELS[choice]}* on prompt {number}."
    elif previous == choice:
        head = f"Your vote on prompt {number} stays *{VOTE_LABELS[choice]}*."
    else:
        head = (
            f"You changed your vote on prompt {number} from *{VOTE_LABELS[previous]}* "
            f"to *{VOTE_LABELS[choice]}*."
        )
    slots = [
        f"{pos} was *{arm_label(session, r.arm)}* (`{escape(r.model)}`)"
        for pos, r in sorted(revealed.items())
    ]
    return head + " " + ", ".join(slots) + ". (Only you can see this.)"


def _cell(text: str, width: int) -> str:
    """Cut to ``width`` then escaped (never cut inside an entity), padded as written."""
    cut = text[:width]
    return escape(cut) + " " * (width - len(cut))


def _table_line(row: PromptRow, session: AbCard) -> str:
    winner = {
        "candidate": session.candidate_label,
        "opponent": _arm_name(session, row.opponent),
    }.get(row.outcome) or OUTCOME_WORDS.get(row.outcome, row.outcome.replace("_", " "))
    votes = f"{row.votes_a}/{row.votes_b}/{row.ties}/{row.both_bad}"
    prompt = escape(truncate(" ".join(row.prompt.split()), TABLE_PROMPT_CHARS))
    opponent = _cell(_arm_name(session, row.opponent), 8)
    return f"{row.number:>3} {_cell(winner, 14)} {votes:<11} {opponent} {prompt}"


def build_results(
    session: AbCard,
    rows: Sequence[PromptRow],
    board: Scoreboard,
    *,
    train_pairs: int | None = None,
) -> dict[str, Any]:
    """The per-prompt table (code blocks within Slack's limits) and the summary.

    Parameters:
        train_pairs: the decided prompts a DPO job would train on, when the session
            has enough of them; adds the "Train on these votes" button.
    """
    head = (
        f"*Results of A/B test `{session.short_id}`*: {plural(len(rows), 'prompt')}, "
        f"{plural(board.votes, 'vote')}"
    )
    blocks: list[Block] = [SectionBlock(text=_md(head)), *_opponent_sections(session, board)]
    header = f"{'#':>3} {'preferred':<14} {'A/B/tie/bad':<11} {'opponent':<8} prompt"
    chunk: list[str] = [header]
    table_blocks: list[Block] = []
    for row in rows:
        line = _table_line(row, session)
        if sum(len(x) + 1 for x in chunk) + len(line) > MAX_SECTION_TEXT - 10:
            table_blocks.append(SectionBlock(text=_md("```" + "\n".join(chunk) + "```")))
            chunk = [header]
        chunk.append(line)
    table_blocks.append(SectionBlock(text=_md("```" + "\n".join(chunk) + "```")))
    room = MAX_MESSAGE_BLOCKS - len(blocks) - 1 - (train_pairs is not None)
    blocks.extend(table_blocks[:room])
    note = "The CSV has every prompt and answer; the JSONL holds the decided pairs as DPO data."
    if len(table_blocks) > room:
        note = "The table is cut here. " + note
    if train_pairs is not None:
        blocks.append(_train_button(session, train_pairs))
    blocks.append(ContextBlock(elements=[_md(note)]))
    return {"text": head.replace("*", ""), "blocks": [b.to_dict() for b in blocks]}


def unblind_warning(session_short_id: str, prompts: int) -> str:
    return (
        f"Posting the results of `{session_short_id}` shows everyone which model answered each "
        f"of its {plural(prompts, 'prompt')}: votes after that are no longer blind. "
        "This cannot be undone."
    )


def build_unblind_confirm(session_short_id: str, prompts: int) -> dict[str, Any]:
    """Asked before the results go up: they unblind the session for everyone."""
    text = unblind_warning(session_short_id, prompts)
    button = ButtonElement(
        text="Post results and unblind",
        action_id=AB_RESULTS_ACTION_ID,
        value=session_short_id,
        style="danger",
        confirm=ConfirmObject(
            title="Unblind this A/B test?",
            text=f"Model names of A/B test {session_short_id} become visible to everyone "
            "in its thread.",
            confirm="Post results",
            deny="Keep it blind",
        ),
    )
    blocks: list[Block] = [SectionBlock(text=_md(text)), ActionsBlock(elements=[button])]
    return {"text": text, "blocks": [b.to_dict() for b in blocks]}


def _train_button(session: AbCard, pairs: int) -> ActionsBlock:
    """Start a DPO job on the decided pairs, continuing the session's fine-tuned model."""
    return ActionsBlock(
        elements=[
            ButtonElement(
                text="Train on these votes",
                action_id=TRAIN_ON_VOTES_ACTION_ID,
                value=session.short_id,
                style="primary",
                confirm=ConfirmObject(
                    title="Train on these votes?",
                    text=truncate(
                        f"A preference (DPO) job continues `{escape(session.candidate_model)}` on "
                        f"the {plural(pairs, 'decided prompt')} of this test.",
                        300,
                    ),
                    confirm="Start training",
                    deny="Not now",
                ),
            )
        ]
    )
