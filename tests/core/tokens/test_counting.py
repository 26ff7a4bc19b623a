"""core.tokens.counting: counting rules, against hand sums and the cookbook."""

import json
from typing import Any

import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from core.tokens import (
    ChatTokenCounter,
    ExampleTokens,
    compact_json,
    counting,
    get_encoding,
)
from core.tokens.counting import windowed_count
from tests.core.tokens.conftest import TOY_FILE


def cookbook_num_tokens(messages: list[dict[str, str]], encoding: tiktoken.Encoding) -> int:
    """The cookbook's function, verbatim in substance, as an independent reference."""
    num_tokens = 0
    for message in messages:
        num_tokens += 3
        for key, value in message.items():
            num_tokens += len(encoding.encode(value))
            if key == "name":
                num_tokens += 1
    return num_tokens + 3


def test_toy_file_matches_the_cookbook_and_banana_is_8032(cl100k: tiktoken.Encoding) -> None:
    counter = ChatTokenCounter(cl100k)
    examples = [json.loads(line) for line in TOY_FILE.read_text().splitlines() if line.strip()]
    counts = [counter.count_messages(ex["messages"]) for ex in examples]
    assert [c.total for c in counts] == [
        cookbook_num_tokens(ex["messages"], cl100k) for ex in examples
    ]
    banana = next(c for ex, c in zip(examples, counts, strict=True) if "banana" in json.dumps(ex))
    assert banana == ExampleTokens(total=8032, trained=8000, estimated=False)
    assert [c.total for c in counts] == [45, 111, 26, 28, 8032]


def test_hand_computed_counts(cl100k: tiktoken.Encoding) -> None:
    counter = ChatTokenCounter(cl100k)
    # "user"=1, "hello world"=2 tokens; 3 per message; 3 for the reply.
    assert counter.count_messages([{"role": "user", "content": "hello world"}]).total == 9
    # + assistant: 3 + "assistant"(1) + "hello world"(2); name adds its tokens + 1.
    two = [
        {"role": "user", "content": "hello world", "name": "bob"},
        {"role": "assistant", "content": "hello world"},
    ]
    assert counter.count_text("bob") == 1
    assert counter.count_messages(two) == ExampleTokens(total=9 + 2 + 6, trained=2, estimated=False)


def test_weight_zero_is_not_trained_and_weight_is_not_text(cl100k: tiktoken.Encoding) -> None:
    counter = ChatTokenCounter(cl100k)
    base = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "first answer here"},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "second"},
    ]
    first, second = counter.count_text("first answer here"), counter.count_text("second")
    unweighted = counter.count_messages(base)
    assert unweighted.trained == first + second  # missing weight counts as trained
    weighted = [dict(m) for m in base]
    weighted[1]["weight"] = 0
    weighted[3]["weight"] = 1
    result = counter.count_messages(weighted)
    assert result.trained == second
    assert result.total == unweighted.total  # the weight key itself costs nothing


def test_content_none_and_text_parts(cl100k: tiktoken.Encoding) -> None:
    counter = ChatTokenCounter(cl100k)
    parts = [{"type": "text", "text": "hello"}, {"type": "text", "text": " world"}]
    as_parts = counter.count_messages([{"role": "user", "content": parts}])
    assert as_parts == ExampleTokens(total=3 + 1 + 1 + 1 + 3, trained=0, estimated=False)
    empty = counter.count_messages([{"role": "assistant", "content": None}])
    assert empty == ExampleTokens(total=3 + 1 + 3, trained=0, estimated=False)
    image = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    assert counter.count_messages([{"role": "user", "content": image}]).estimated


def test_tool_calls_and_definitions_are_estimated(cl100k: tiktoken.Encoding) -> None:
    counter = ChatTokenCounter(cl100k)
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Zürich"}'},
        }
    ]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_calls": calls},
    ]
    result = counter.count_messages(messages)
    calls_tokens = counter.count_text(compact_json(calls))
    assert "Zürich" in compact_json(calls) and ", " not in compact_json(calls)[:20]
    assert result.estimated and result.trained == calls_tokens
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    with_tools = counter.count_messages(messages, tools=tools)
    assert with_tools.total == result.total + counter.count_text(compact_json(tools))
    assert with_tools.trained == result.trained
    plain = counter.count_messages([{"role": "user", "content": "weather?"}], functions=[])
    assert not plain.estimated


def test_special_token_text_and_odd_values_do_not_crash(o200k: tiktoken.Encoding) -> None:
    counter = ChatTokenCounter(o200k)
    result = counter.count_messages(
        [
            {"role": "user", "content": "<|endoftext|>"},
            "not a message",
            {"role": "user", "content": 7},
        ]
    )
    assert result.estimated
    assert result.total == 3 + (3 + 1 + 7) + (3 + counter.count_text('"not a message"')) + (
        3 + 1 + 1
    )


def test_lone_surrogate_from_json_is_counted(o200k: tiktoken.Encoding) -> None:
    # json.loads('"\\ud800"') yields a lone surrogate, which UTF-8 cannot encode.
    text = json.loads('"caf\\u00e9 \\ud800"')
    result = ChatTokenCounter(o200k).count_messages([{"role": "user", "content": text}])
    # tiktoken replaces it with U+FFFD, as OpenAI's servers would receive it.
    assert result.total == 3 + 3 + 1 + len(o200k.encode_ordinary("caf\u00e9 \ufffd"))


def test_prompt_completion(cl100k: tiktoken.Encoding) -> None:
    counter = ChatTokenCounter(cl100k)
    assert counter.count_prompt_completion("hello", " world") == ExampleTokens(2, 1, False)


# --- long texts: counted in windows, cut where the pattern starts a new piece anyway ---
_WORD = st.text(
    alphabet=st.sampled_from(list("abcXYZéß0123456789!?.,'\"-/😀中文")), min_size=1, max_size=8
)
# Each gap has a space right after a non-space character (a cut), so no stretch of
# 16 characters is without one; ",\t" alone once let a window be cut inside a number.
_GAP = st.sampled_from([" ", " \n", ".  ", " - ", ", \t", " \r\n  "])


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(st.tuples(_WORD, _GAP), min_size=1, max_size=80))
def test_windowed_count_is_the_exact_count(pieces: list[tuple[str, str]]) -> None:
    text = "".join(word + gap for word, gap in pieces)
    for encoding in (get_encoding("o200k_base"), get_encoding("cl100k_base")):
        count = windowed_count(encoding.encode_ordinary, long=64, window=32, search=16)
        assert count(text) == len(encoding.encode_ordinary(text)), text


def test_a_long_natural_text_keeps_its_exact_count(o200k: tiktoken.Encoding) -> None:
    words = [
        "the",
        "model",
        "answers",
        "12,345",
        "questions;",
        "naïve",
        "users",
        "ask",
        "'why?'",
        "—",
        "日本語",
        "too",
    ]
    text = " ".join(words[n % len(words)] for n in range(300_000))  # ~1.9 MB: 8 windows
    assert len(text) > counting.LONG_TEXT_CHARS
    counter = ChatTokenCounter(o200k)
    assert counter.count_text(text) == len(o200k.encode_ordinary(text))


def test_one_huge_word_is_counted_in_bounded_windows(o200k: tiktoken.Encoding) -> None:
    seen: list[int] = []

    def encode(text: str) -> list[int]:
        seen.append(len(text))
        return o200k.encode_ordinary(text)

    text = "y" * (3 * counting.LONG_TEXT_CHARS)  # no space anywhere: cut where windows end
    count = windowed_count(encode)(text)
    assert max(seen) == counting.WINDOW_CHARS and sum(seen) == len(text)
    exact = len(o200k.encode_ordinary(text))
    assert abs(count - exact) <= len(seen)  # at most a token per cut
