"""Checks that need the whole file: counts, formats, repeats, legacy advice.

They run after every example has been folded into the :class:`Tally`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from core.datasets.formats import file_format
from core.tokens import ModelSpec
from core.validation.findings import FindingLog
from core.validation.tally import LegacyState, Tally

MIN_EXAMPLES = 10
"""OpenAI refuses files with fewer examples."""
RECOMMENDED_EXAMPLES = 50
"""OpenAI: 'we typically see clear improvements from fine-tuning on 50 to 100 examples'."""


def check_file(tally: Tally, log: FindingLog, *, spec: ModelSpec) -> npt.NDArray[np.int32]:
    """Add file-level findings; return, per kept example, the example it repeats or -1."""
    _check_count(tally, log)
    _check_formats(tally, log, spec=spec)
    if tally.no_system and tally.formats.get("chat"):
        log.add(
            "missing_system_message",
            f"{tally.no_system:,} of {tally.formats['chat']:,} chat example(s) have no system "
            "message (first at this line).",
            "Fine if intended; a system prompt used in training should also be sent at inference.",
            line=tally.no_system_first,
        )
    first_of = tally.repeats()
    _report_repeats(first_of, tally, log)
    if tally.legacy_state.count:
        legacy_advice(tally.legacy_state, log)
    return first_of


def _report_repeats(first_of: npt.NDArray[np.int32], tally: Tally, log: FindingLog) -> None:
    """One finding per repeat: the first ones listed, all of them counted."""
    repeats = first_of >= 0
    total = int(repeats.sum())
    if not total:
        return
    lines = tally.lines
    listed = np.flatnonzero(repeats)[: log.cap].tolist()
    for example in listed:
        log.add(
            "duplicate_example",
            f"The example repeats the one on line {lines[int(first_of[example])]}.",
            "--fix keeps the first and drops repeats.",
            line=lines[example],
            example=example,
        )
    log.count("duplicate_example", total - len(listed))


def _check_count(tally: Tally, log: FindingLog) -> None:
    n = tally.examples
    if n > tally.max_examples:
        log.add(
            "too_many_examples",
            f"The file has {n:,} examples; tunebot checks up to {tally.max_examples:,} per file "
            "(the first beyond the limit is on this line).",
            "Split the file; --fix keeps only the examples up to the limit.",
            line=tally.first_unkept_line,
        )
    if n == 0:
        log.add("empty_file", "The file holds no examples.", "Add training examples.")
    elif n < MIN_EXAMPLES:
        log.add(
            "too_few_examples",
            f"The file has {n} example(s); OpenAI requires at least {MIN_EXAMPLES}.",
            "Add more examples (50-100 is where gains usually show).",
        )
    elif n < RECOMMENDED_EXAMPLES:
        log.add(
            "few_examples",
            f"The file has {n} examples; clear improvements usually need "
            f"{RECOMMENDED_EXAMPLES}-100.",
            "Add more examples if you can.",
        )


def _check_formats(tally: Tally, log: FindingLog, *, spec: ModelSpec) -> None:
    fmt = file_format(tally.formats)
    if fmt == "mixed":
        present = sorted(
            (f for f in tally.formats if f != "unknown"), key=lambda f: tally.first_line[f]
        )
        shown = ", ".join(
            f"{f} ({tally.formats[f]:,}, first on line {tally.first_line[f]})" for f in present
        )
        log.add(
            "mixed_formats",
            f"The file mixes formats: {shown}.",
            "Keep one format per file (--fix converts prompt/completion to chat).",
            line=tally.first_line[present[1]],
        )
    if tally.formats.get("text") and spec.provider == "openai":
        log.add(
            "text_format_unsupported",
            f"{tally.formats['text']:,} example(s) are plain text (first on this line); "
            f"{spec.id} is an OpenAI chat model and trains on chat examples only.",
            'Rewrite them as chat ({"messages": [...]}), or train on the worker with an '
            "open model (text examples are continued pre-training).",
            line=tally.first_line["text"],
        )
    if tally.formats.get("prompt_completion") and spec.provider != "open":
        log.add(
            "legacy_format",
            f"prompt/completion is the legacy format; {spec.id} is trained on chat examples.",
            "--fix converts each pair to a user and an assistant message.",
        )


def legacy_advice(state: LegacyState, log: FindingLog) -> None:
    """The advice OpenAI's retired ``openai tools fine_tunes.prepare_data`` gave.

    It matters for base completion models; after conversion to chat the
    separator and ending are simply part of the texts.
    """
    if not state.prompt_suffix:
        log.add(
            "prompt_separator_missing",
            "The prompts do not all end with the same "
            "separator, so a completion model cannot tell where the prompt stops.",
            "For completion models end every prompt with a fixed separator such as "
            "'\\n\\n###\\n\\n'; for chat models use --fix.",
        )
    if not state.completion_suffix:
        log.add(
            "completion_ending_missing",
            "The completions do not all end with the same "
            "ending, so a completion model will not learn where to stop.",
            "For completion models end every completion with a fixed stop such as "
            "'\\n' or ' END'; for chat models use --fix.",
        )
    if state.no_leading_space:
        log.add(
            "completion_leading_space",
            f"{state.no_leading_space:,} of {state.count:,} "
            "completion(s) do not start with a whitespace character, which tokenizes worse "
            "for completion models.",
            "For completion models start each completion with a space; chat models do not need it.",
        )
