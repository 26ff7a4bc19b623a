"""core.tokens.counting: counting rules, against hand sums and the cookbook."""

import json
from typing import Any

import tiktoken

from core.tokens import (
    ChatTokenCounter,
    ExampleTokens,
    compact_json,
)
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
