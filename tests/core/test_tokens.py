"""core.tokens: offline encodings, counting rules, the model table and billing.

Counts are checked against hand-computed sums and against an independent copy
of the OpenAI cookbook's ``num_tokens_from_messages``; nothing here downloads.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from tiktoken_ext import openai_public
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from core.errors import ConfigError, DatasetError
from core.tokens import (
    ChatTokenCounter,
    ExampleTokens,
    HFTokenCounter,
    ModelSpec,
    compact_json,
    default_epochs,
    estimate_billing,
    get_encoding,
    known_models,
    load_encoding,
    resolve_model,
)
from core.tokens.encodings import _bundled_data_dir, _tiktoken_recipe

# The OpenAI cookbook's toy file (openai-cookbook, examples/data), copied so CI needs no checkout.
TOY_FILE = Path(__file__).parent / "fixtures" / "toy_chat_fine_tuning.jsonl"
BUNDLED = _bundled_data_dir()


@pytest.fixture(scope="module")
def cl100k() -> tiktoken.Encoding:
    return get_encoding("cl100k_base")


@pytest.fixture(scope="module")
def o200k() -> tiktoken.Encoding:
    return get_encoding("o200k_base")


# --- encodings ---------------------------------------------------------------


def test_bundled_encodings_give_the_published_token_ids(
    cl100k: tiktoken.Encoding, o200k: tiktoken.Encoding
) -> None:
    assert cl100k.encode_ordinary("hello world") == [15339, 1917]
    assert o200k.encode_ordinary("hello world") == [24912, 2375]
    assert cl100k.n_vocab == 100277 and o200k.n_vocab == 200019
    assert cl100k.encode("<|endoftext|>", allowed_special="all") == [100257]
    assert o200k.encode("<|endoftext|>", allowed_special="all") == [199999]
    assert get_encoding("o200k_base") is o200k  # cached


def test_recipe_is_tiktokens_own_including_its_expected_hash() -> None:
    recipe, url, expected_hash = _tiktoken_recipe("o200k_base")
    source = inspect.getsource(openai_public.o200k_base)
    assert expected_hash in source and url in source
    assert recipe["special_tokens"] == {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}
    _, _, cl_hash = _tiktoken_recipe("cl100k_base")
    assert cl_hash == "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def _copy_with_flipped_byte(name: str, folder: Path) -> Path:
    assert BUNDLED is not None
    data = bytearray(gzip.decompress((BUNDLED / f"{name}.tiktoken.gz").read_bytes()))
    data[1000] ^= 0x01  # still valid base64 text shape, different bytes
    target = folder / f"{name}.tiktoken.gz"
    target.write_bytes(gzip.compress(bytes(data)))
    return target


def test_tampered_encoding_file_is_a_hard_error(tmp_path: Path) -> None:
    _copy_with_flipped_byte("cl100k_base", tmp_path)
    with pytest.raises(ConfigError, match="sha256") as raised:
        load_encoding("cl100k_base", data_dir=tmp_path)
    assert "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7" in str(raised.value)


def test_untampered_copy_loads_from_the_given_folder(tmp_path: Path) -> None:
    assert BUNDLED is not None
    shutil.copy(BUNDLED / "cl100k_base.tiktoken.gz", tmp_path)
    encoding = load_encoding("cl100k_base", data_dir=tmp_path)
    assert encoding.encode_ordinary("hello world") == [15339, 1917]


def test_damaged_gzip_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "o200k_base.tiktoken.gz").write_bytes(b"\x1f\x8b\x08not really gzip")
    with pytest.raises(ConfigError, match="damaged"):
        load_encoding("o200k_base", data_dir=tmp_path)


def test_missing_bundle_falls_back_to_tiktokens_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prime tiktoken's own cache the way a previous online run would have, so
    # the fallback runs tiktoken's real loader (and its hash check) offline.
    assert BUNDLED is not None
    _, url, _ = _tiktoken_recipe("cl100k_base")
    cache = tmp_path / "cache"
    cache.mkdir()
    data = gzip.decompress((BUNDLED / "cl100k_base.tiktoken.gz").read_bytes())
    (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    empty = tmp_path / "empty"
    empty.mkdir()
    encoding = load_encoding("cl100k_base", data_dir=empty)
    assert encoding.encode_ordinary("hello world") == [15339, 1917]


def test_unknown_encoding_lists_the_supported_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        get_encoding("p50k_base")
    assert "o200k_base" in raised.value.user_message()


# --- chat counting -----------------------------------------------------------


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


# --- model table -------------------------------------------------------------


def test_table_has_the_known_limits() -> None:
    table = {spec.id: spec for spec in known_models()}
    assert table["gpt-3.5-turbo-0125"].max_tokens == 16385
    assert table["gpt-3.5-turbo-0125"].encoding == "cl100k_base"
    for model in ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1-2025-04-14"):
        assert (table[model].encoding, table[model].max_tokens) == ("o200k_base", 65536)
    assert all(s.price_per_1m and s.price_read_on and s.new_jobs_until for s in table.values())


def test_alias_and_exact_id_resolve_to_the_same_spec() -> None:
    assert resolve_model("gpt-4o-mini") == resolve_model("gpt-4o-mini-2024-07-18")
    assert resolve_model(" gpt-4.1-nano ").id == "gpt-4.1-nano-2025-04-14"


def test_fine_tuned_model_trains_like_its_base() -> None:
    spec = resolve_model("ft:gpt-4o-mini-2024-07-18:acme::abc123")
    assert spec.id == "ft:gpt-4o-mini-2024-07-18:acme::abc123"
    assert (spec.max_tokens, spec.price_per_1m) == (65536, 3.0)


def test_unknown_model_lists_known_ids() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_model("gpt-5-turbo-imaginary")
    message = raised.value.user_message()
    assert all(spec.id in message for spec in known_models())


def test_open_models_are_estimates_without_price(tmp_path: Path) -> None:
    spec = resolve_model("meta-llama/Llama-3.1-8B-Instruct")
    assert (spec.provider, spec.encoding, spec.price_per_1m) == ("open", "o200k_base", None)
    assert resolve_model(str(tmp_path)).provider == "open"


def test_price_override_by_alias_or_id() -> None:
    spec = resolve_model("gpt-4o-mini-2024-07-18", price_overrides={"gpt-4o-mini": 1.25})
    assert (spec.price_per_1m, spec.price_read_on) == (1.25, "override")
    both = {"gpt-4o-mini": 1.25, "gpt-4o-mini-2024-07-18": 2.0}
    assert resolve_model("gpt-4o-mini", price_overrides=both).price_per_1m == 2.0
    with pytest.raises(ConfigError, match="not a price"):
        resolve_model("gpt-4o-mini", price_overrides={"gpt-4o-mini": -1.0})


# --- epochs and billing ------------------------------------------------------


@pytest.mark.parametrize(
    ("n_examples", "epochs"),
    [
        (1, 25),  # ceil(100/1)=100, capped at 25
        (4, 25),
        (5, 20),  # 5*3=15 < 100 -> ceil(100/5)
        (10, 10),
        (20, 5),
        (33, 4),  # 99 passes < 100 -> ceil(100/33)=4
        (34, 3),  # 102 passes: the 3-epoch target holds
        (8333, 3),  # 24,999 passes
        (8334, 2),  # 25,002 > 25,000 -> 25000//8334
        (12500, 2),
        (12501, 1),
        (1_000_000, 1),
    ],
)
def test_default_epochs(n_examples: int, epochs: int) -> None:
    assert default_epochs(n_examples) == epochs


def _spec(limit: int, price: float | None) -> ModelSpec:
    return ModelSpec("m", "openai", "o200k_base", limit, price, "2026-11-26", True)


def test_billing_clamps_each_example_to_the_limit() -> None:
    bill = estimate_billing(iter([100, 200, 5000]), spec=_spec(1000, 3.0), n_examples=50)
    assert bill.billed_tokens_per_epoch == 100 + 200 + 1000
    assert bill.epochs == 3  # default_epochs(50)
    assert bill.trained_tokens == 3900
    assert bill.cost_usd == pytest.approx(3900 / 1e6 * 3.0)


def test_billing_epochs_and_unknown_price() -> None:
    bill = estimate_billing([10] * 10, spec=_spec(1000, None))
    assert (bill.epochs, bill.trained_tokens, bill.cost_usd) == (10, 1000, None)
    assert estimate_billing([10], spec=_spec(1000, None), epochs=2).trained_tokens == 20
    with pytest.raises(ConfigError):
        estimate_billing([10], spec=_spec(1000, None), epochs=26)
    with pytest.raises(ConfigError):
        estimate_billing([], spec=_spec(1000, None))


def test_billing_with_overridden_price() -> None:
    spec = resolve_model("gpt-4o-mini", price_overrides={"gpt-4o-mini": 10.0})
    bill = estimate_billing([50_000] * 4, spec=spec, epochs=1)
    assert bill.cost_usd == pytest.approx(200_000 / 1e6 * 10.0)
    assert estimate_billing([70_000], spec=spec, epochs=1).billed_tokens_per_epoch == 65_536


# --- Hugging Face tokenizers ------------------------------------------------

WORDS = ["[UNK]", "hello", "world", "how", "are", "you", "?", "fine"]
SPECIALS = ["<s>", "<|user|>", "<|assistant|>", "<|end|>"]
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('bad role') }}{% endif %}"
    "<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}"
)


def _tokenizer_folder(folder: Path, *, template: str | None) -> Path:
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.add_special_tokens(SPECIALS)
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))
    config: dict[str, Any] = {"bos_token": {"content": "<s>"}, "eos_token": "<|end|>"}
    if template is not None:
        config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_hf_counter_renders_the_chat_template(tmp_path: Path) -> None:
    counter = HFTokenCounter(_tokenizer_folder(tmp_path / "tok", template=TEMPLATE))
    assert counter.has_chat_template
    assert counter.count_text("hello world how are you ?") == 6
    messages = [
        {"role": "user", "content": "how are you ?"},
        {"role": "assistant", "content": "fine"},
    ]
    # <s> | <|user|> how are you ? <|end|> | <|assistant|> fine <|end|>; the template
    # has no generation prompt, so the model must produce the assistant header too.
    assert counter.count_messages(messages) == ExampleTokens(1 + 6 + 3, trained=3, estimated=False)
    # As TRL trains it: prompt + completion + EOS, the completion and EOS trained.
    assert counter.count_prompt_completion("hello", " world") == ExampleTokens(3, 2, False)
    assert counter.count_document("hello world") == ExampleTokens(3, 3, False)


def test_hf_counter_without_or_rejecting_template_is_an_error(tmp_path: Path) -> None:
    """The worker could not train such an example, so no estimate stands in for it."""
    plain = HFTokenCounter(_tokenizer_folder(tmp_path / "plain", template=None) / "tokenizer.json")
    messages = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "fine"}]
    with pytest.raises(DatasetError, match="no chat template") as missing:
        plain.count_messages(messages)
    assert missing.value.code == "chat_template_error"
    templated = HFTokenCounter(_tokenizer_folder(tmp_path / "tpl", template=TEMPLATE))
    with pytest.raises(DatasetError, match="refuses this example: bad role") as refused:
        templated.count_messages([{"role": "system", "content": "hello"}, *messages])
    assert refused.value.code == "chat_template_error"


def test_hf_counter_needs_a_tokenizer_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tokenizer"):
        HFTokenCounter(tmp_path)
    broken = _tokenizer_folder(tmp_path / "broken", template="{% for %}")
    with pytest.raises(ConfigError, match="does not compile"):
        HFTokenCounter(broken)
