"""Batch evaluation of both models on held-out prompts.

Runs the fine-tuned model and its base on up to N held-out prompts with a
bounded number of requests in flight (a provider is shared with people using
the bot), scores each answer against the dataset's own answer, optionally asks
a judge in both orders, and summarises with the same statistics as the human
A/B test.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from core.evaluation import scoring
from core.evaluation.arms import Answer, Arm, ChatProvider, Generation, ask
from core.evaluation.examples import Example
from core.evaluation.judge import BASELINE, JudgeOutcome, judge_pair, judge_tally
from core.evaluation.stats import Summary, Tally, summarize

WORST_SHOWN = 5


@dataclass(frozen=True)
class ItemResult:
    """One held-out prompt, both answers, and the judge's outcome when asked."""

    index: int
    example: Example
    candidate: Answer
    baseline: Answer
    judge: JudgeOutcome | None = None

    @property
    def counted(self) -> bool:
        """Both models answered; a failure excludes the prompt from comparisons."""
        return self.candidate.ok and self.baseline.ok

    def f1(self, answer: Answer) -> float | None:
        return scoring.token_f1(answer.text or "", self.example.reference) if answer.ok else None

    def exact(self, answer: Answer) -> bool | None:
        return scoring.exact_match(answer.text or "", self.example.reference) if answer.ok else None

    @property
    def f1_gap(self) -> float:
        """Baseline F1 minus candidate F1: how much worse the candidate scored."""
        return (self.f1(self.baseline) or 0.0) - (self.f1(self.candidate) or 0.0)


@dataclass(frozen=True)
class ModelStats:
    """Scores, latency and tokens of one model over the prompts it answered."""

    model: str
    answered: int
    failed: int
    exact_match: float | None
    mean_f1: float | None
    mean_latency_s: float | None
    median_latency_s: float | None
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class HeldoutResult:
    """Everything the held-out report shows."""

    items: list[ItemResult]
    classification: bool
    candidate: ModelStats
    baseline: ModelStats
    reference: Summary
    judge: Summary | None
    worst: list[ItemResult]


def _model_stats(model: str, answers: Sequence[Answer], items: Sequence[ItemResult]) -> ModelStats:
    ok = [(a, item) for a, item in zip(answers, items, strict=True) if a.ok]
    latencies = [a.latency_s for a, _ in ok]
    return ModelStats(
        model=model,
        answered=len(ok),
        failed=len(answers) - len(ok),
        exact_match=statistics.fmean(bool(i.exact(a)) for a, i in ok) if ok else None,
        mean_f1=statistics.fmean(i.f1(a) or 0.0 for a, i in ok) if ok else None,
        mean_latency_s=statistics.fmean(latencies) if latencies else None,
        median_latency_s=statistics.median(latencies) if latencies else None,
        prompt_tokens=sum(a.prompt_tokens or 0 for a, _ in ok),
        completion_tokens=sum(a.completion_tokens or 0 for a, _ in ok),
    )


def reference_tally(items: Sequence[ItemResult], *, classification: bool) -> Tally:
    """Per prompt, the model closer to the reference wins (accuracy for labels)."""
    wins = losses = ties = 0
    for item in items:
        if not item.counted:
            continue
        if classification:
            gap = float(bool(item.exact(item.baseline))) - float(bool(item.exact(item.candidate)))
        else:
            gap = item.f1_gap
        wins += gap < 0
        losses += gap > 0
        ties += gap == 0
    return Tally(wins=wins, losses=losses, ties=ties)


def worst_losses(items: Sequence[ItemResult], *, limit: int = WORST_SHOWN) -> list[ItemResult]:
    """Prompts where the candidate lost, worst first: judged losses, then the F1 gap."""
    lost = [
        item
        for item in items
        if item.counted
        and ((item.judge is not None and item.judge.outcome == BASELINE) or item.f1_gap > 0)
    ]
    lost.sort(
        key=lambda item: (item.judge is not None and item.judge.outcome == BASELINE, item.f1_gap),
        reverse=True,
    )
    return lost[:limit]


def run_heldout(
    examples: Sequence[Example],
    *,
    candidate: Arm,
    baseline: Arm,
    providers: Mapping[str, ChatProvider],
    generation: Generation,
    judge: Arm | None = None,
    concurrency: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> HeldoutResult:
    """Answer every example with both models, then judge, then summarise.

    Parameters:
        examples: held-out prompts with their reference answers.
        candidate / baseline: the two arms (fine-tuned and base).
        providers: provider name -> chat provider.
        generation: temperature, max tokens and seed, the same for both models.
        judge: the judge arm, or ``None`` for reference scores only.
        concurrency: the most requests in flight at once.
        progress: called with (done, total) after each model answer.
    """
    total = len(examples) * 2
    done = 0

    def answer(pair: tuple[Example, Arm]) -> Answer:
        nonlocal done
        result = ask(pair[1], pair[0].prompt, providers=providers, generation=generation)
        done += 1  # only read for progress; exactness under races does not matter
        if progress is not None:
            progress(done, total)
        return result

    jobs = [(ex, arm) for ex in examples for arm in (candidate, baseline)]
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="heldout") as pool:
        answers = list(pool.map(answer, jobs))
        items = [
            ItemResult(i, ex, answers[2 * i], answers[2 * i + 1]) for i, ex in enumerate(examples)
        ]
        if judge is not None:
            items = list(pool.map(lambda item: _judged(item, judge, providers), items))
    classification = scoring.is_classification([ex.reference for ex in examples])
    judged = [item.judge for item in items if item.judge is not None]
    return HeldoutResult(
        items=items,
        classification=classification,
        candidate=_model_stats(candidate.model, answers[0::2], items),
        baseline=_model_stats(baseline.model, answers[1::2], items),
        reference=summarize(reference_tally(items, classification=classification)),
        judge=summarize(judge_tally(judged)) if judge is not None else None,
        worst=worst_losses(items),
    )


def _judged(item: ItemResult, judge: Arm, providers: Mapping[str, ChatProvider]) -> ItemResult:
    if not item.counted:
        return item
    outcome = judge_pair(
        item.example.prompt,
        item.candidate.text or "",
        item.baseline.text or "",
        judge=judge,
        providers=providers,
        reference=item.example.reference,
    )
    return ItemResult(item.index, item.example, item.candidate, item.baseline, outcome)
