"""Exactly the trainable assistant turns carry loss, under real published chat templates.

Each case decodes the tokens whose label is not -100 and compares them with
the assistant outputs OpenAI's rules train (every assistant message unless
``"weight": 0``), each through its end-of-turn token, and nothing else.
Templates: Llama 3.1, Qwen 2.5, Mistral v0.3 (with tools) and Gemma 2
(without), applied with the tiny model's tokenizer. The token ids are also
checked against transformers' own ``apply_chat_template``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import pytest

from core.errors import DatasetError
from core.tokens import HFTokenCounter
from core.tokens.sequences import (
    IGNORE_INDEX,
    SequenceBuilder,
    TrainingSequence,
    template_message,
)
from tests.core.tokens.template_models import dress

SYSTEM = {"role": "system", "content": "You answer in a few words."}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
CITIES = {"abc123xyz": "Paris", "def456uvw": "Rome"}  # Mistral wants 9-character ids


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str, **extra: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": text, **extra}


def calls(*ids: str, **extra: Any) -> dict[str, Any]:
    tool_calls = [
        {
            "id": i,
            "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": CITIES[i]})},
        }
        for i in ids
    ]
    return {"role": "assistant", "content": None, "tool_calls": tool_calls, **extra}


def result(call_id: str, text: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": text}


MULTI_TURN = [
    user("Capital of France?"),
    assistant("Paris.", weight=0),
    user("And of Italy?"),
    assistant("Rome."),
    user("Thanks!"),
    assistant("  You are welcome.", weight=1),
]
ONE_CALL = [
    user("Weather in Paris?"),
    calls("abc123xyz"),
    result("abc123xyz", "sunny, 24C"),
    assistant("Sunny and 24C."),
]
PARALLEL_CALLS = [
    user("Weather in Paris and Rome?"),
    calls("abc123xyz", "def456uvw"),
    result("abc123xyz", "sunny"),
    result("def456uvw", "rainy"),
    assistant("Sunny in Paris, rainy in Rome."),
]
UNTRAINED_CALL = [
    user("Weather in Paris?"),
    calls("abc123xyz", weight=0),
    result("abc123xyz", "sunny"),
    assistant("Sunny."),
]

LLAMA_CALL = '{"name": "get_weather", "parameters": {"city": "Paris"}}'


def qwen_calls(*cities: str) -> str:
    return "\n".join(
        f'<tool_call>\n{{"name": "get_weather", "arguments": {{"city": "{c}"}}}}\n</tool_call>'
        for c in cities
    )


def mistral_calls(*ids: str) -> str:
    parts = [
        f'{{"name": "get_weather", "arguments": {{"city": "{CITIES[i]}"}}, "id": "{i}"}}'
        for i in ids
    ]
    return "[TOOL_CALLS] [" + ", ".join(parts) + "]</s>"


# family -> case -> the decoded trained runs, or (error code, words of the message)
EXPECTED: dict[str, dict[str, Any]] = {
    "llama3_1": {
        "multi_turn": ["Rome.<|eot_id|>", "You are welcome.<|eot_id|>"],
        "one_call": [LLAMA_CALL + "<|eot_id|>", "Sunny and 24C.<|eot_id|>"],
        "parallel_calls": ("chat_template_error", "only supports single tool-calls"),
        "untrained_call": ["Sunny.<|eot_id|>"],
    },
    "qwen2_5": {
        "multi_turn": ["Rome.<|im_end|>", "  You are welcome.<|im_end|>"],
        "one_call": [qwen_calls("Paris") + "<|im_end|>", "Sunny and 24C.<|im_end|>"],
        "parallel_calls": [
            qwen_calls("Paris", "Rome") + "<|im_end|>",
            "Sunny in Paris, rainy in Rome.<|im_end|>",
        ],
        "untrained_call": ["Sunny.<|im_end|>"],
    },
    "mistral_v0_3": {
        "multi_turn": [" Rome.</s>", " You are welcome.</s>"],
        "one_call": [mistral_calls("abc123xyz"), " Sunny and 24C.</s>"],
        "parallel_calls": [
            mistral_calls("abc123xyz", "def456uvw"),
            " Sunny in Paris, rainy in Rome.</s>",
        ],
        "untrained_call": [" Sunny.</s>"],
    },
    "gemma2": {
        "multi_turn": ["Rome.<end_of_turn>", "You are welcome.<end_of_turn>"],
        "one_call": ("template_cannot_render_tools", "cannot render tools"),
        "parallel_calls": ("template_cannot_render_tools", "cannot render tools"),
        "untrained_call": ("template_cannot_render_tools", "cannot render tools"),
    },
}
CASES = {
    "multi_turn": MULTI_TURN,
    "one_call": ONE_CALL,
    "parallel_calls": PARALLEL_CALLS,
    "untrained_call": UNTRAINED_CALL,
}
# Gemma 2 refuses system messages; the others get one, which Mistral moves next
# to the last user message (its rendering is not prefix-stable).
WITH_SYSTEM = {"llama3_1", "qwen2_5", "mistral_v0_3"}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def builder(
    family: str, tiny_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> SequenceBuilder:
    return SequenceBuilder(dress(tiny_tokenizer_dir, family, tmp_path_factory.mktemp(family)))


def trained_runs(builder: SequenceBuilder, sequence: TrainingSequence) -> list[str]:
    """The decoded stretches of consecutive tokens that carry loss."""
    runs: list[list[int]] = [[]]
    for token, label in zip(sequence.input_ids, sequence.labels(), strict=True):
        if label != IGNORE_INDEX:
            runs[-1].append(token)
        elif runs[-1]:
            runs.append([])
    return [builder.tokenizer.decode(r, skip_special_tokens=False) for r in runs if r]


@pytest.mark.parametrize("case", sorted(CASES))
def test_exactly_the_trainable_assistant_turns_carry_loss(
    builder: SequenceBuilder, family: str, case: str
) -> None:
    messages = [SYSTEM, *CASES[case]] if family in WITH_SYSTEM else CASES[case]
    tools = TOOLS if case != "multi_turn" else None
    expected = EXPECTED[family][case]
    if isinstance(expected, tuple):
        code, words = expected
        with pytest.raises(DatasetError, match=words) as refused:
            builder.chat(messages, tools=tools)
        assert refused.value.code == code
        return
    sequence = builder.chat(messages, tools=tools)
    assert trained_runs(builder, sequence) == expected
    rendered = builder.tokenizer.decode(sequence.input_ids, skip_special_tokens=False)
    # Mistral shows the system prompt only before a final user turn, so never here.
    assert (SYSTEM["content"] in rendered) == (family in {"llama3_1", "qwen2_5"})
    # The counter the validator uses bills exactly this sequence.
    counted = HFTokenCounter(builder.folder).count_messages(messages, tools=tools)
    assert (counted.total, counted.trained, counted.estimated) == (
        sequence.total,
        sequence.trained,
        False,
    )


def test_tool_support_is_detected_per_template(builder: SequenceBuilder, family: str) -> None:
    assert builder.renders_tools == (family != "gemma2")


def test_a_template_without_generation_prompt_still_trains_the_turn(
    tmp_path: Path, tiny_tokenizer_dir: Path
) -> None:
    """Gemma's ``<end_of_turn>\\n``: the newline after the end token is context, not output."""
    builder = SequenceBuilder(dress(tiny_tokenizer_dir, "gemma2", tmp_path / "g"))
    sequence = builder.chat([user("Hi"), assistant("Hello")])
    rendered = builder.tokenizer.decode(sequence.input_ids, skip_special_tokens=False)
    assert rendered.endswith("<end_of_turn>\n")
    assert trained_runs(builder, sequence) == ["Hello<end_of_turn>"]


def test_no_chat_template_is_a_template_error(tmp_path: Path, tiny_tokenizer_dir: Path) -> None:
    folder = dress(tiny_tokenizer_dir, "qwen2_5", tmp_path / "plain")
    (folder / "chat_template.jinja").unlink()
    with pytest.raises(DatasetError, match="no chat template") as refused:
        SequenceBuilder(folder).chat([user("q"), assistant("a")])
    assert refused.value.code == "chat_template_error"


def test_plain_formats_keep_trls_behaviour(tmp_path: Path, tiny_tokenizer_dir: Path) -> None:
    builder = SequenceBuilder(dress(tiny_tokenizer_dir, "llama3_1", tmp_path / "l"))
    pc = builder.prompt_completion("Capital of France ->", " Paris")
    assert trained_runs(builder, pc) == [" Paris<|eot_id|>"]
    text = builder.text("Monday Tuesday")
    assert trained_runs(builder, text) == ["Monday Tuesday<|eot_id|>"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_sequences_are_what_transformers_apply_chat_template_gives(
    builder: SequenceBuilder, family: str, case: str
) -> None:
    """Core renders and tokenizes without transformers, but exactly as it does."""
    from transformers import PreTrainedTokenizerFast

    messages = [SYSTEM, *CASES[case]] if family in WITH_SYSTEM else CASES[case]
    tools = TOOLS if case != "multi_turn" else None
    hf = PreTrainedTokenizerFast(tokenizer_file=str(builder.folder / "tokenizer.json"))
    hf.chat_template = (builder.folder / "chat_template.jinja").read_text(encoding="utf-8")
    for key, value in builder.template_vars.items():
        if value:
            setattr(hf, key, value)
    shaped = [template_message(m) for m in messages]
    if isinstance(EXPECTED[family][case], tuple):  # core refuses it: so does transformers
        with pytest.raises(jinja2.TemplateError):
            hf.apply_chat_template(shaped, tools=tools, tokenize=False)
        return
    ids = hf.apply_chat_template(shaped, tools=tools, tokenize=True, return_dict=True)["input_ids"]
    assert builder.chat(messages, tools=tools).input_ids == list(ids)
