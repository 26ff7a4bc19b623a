"""The offline test model: written offline, trainable, with a usable chat template."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, AutoTokenizer

from worker.tiny_model import write_tiny_model


def test_tiny_model_is_written_offline(tmp_path: Path) -> None:
    # Written from local code only (no hub); how fast is a benchmark's business, not a test's.
    write_tiny_model(tmp_path / "m")
    config = AutoConfig.from_pretrained(tmp_path / "m")
    assert config.initializer_range == 0.2 and config.model_type == "llama"


def test_generation_prompt_is_a_prefix_of_the_answer(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt = [{"role": "user", "content": "Capital of France?"}]
    full = [*prompt, {"role": "assistant", "content": "Paris"}]
    head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    whole = tokenizer.apply_chat_template(full, tokenize=False)
    assert whole.startswith(head) and whole.endswith(tokenizer.eos_token + "\n")
    text = "naïve café ✓ 東京"  # byte-level BPE: any text round-trips
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_with_tools_it_trains_the_example_dataset_and_without_it_refuses(tmp_path: Path) -> None:
    # examples/support_chat.jsonl has tool calls; `tunebot demo` trains the tiny model on it.
    from core.config import ValidationSettings
    from core.tokens.sequences import SequenceBuilder
    from core.validation import validate_file

    plain = write_tiny_model(tmp_path / "plain")
    tools = write_tiny_model(tmp_path / "tools", tools=True)
    assert not SequenceBuilder(plain).renders_tools and SequenceBuilder(tools).renders_tools
    example = Path(__file__).resolve().parents[2] / "examples" / "support_chat.jsonl"
    settings = ValidationSettings(_env_file=None)  # type: ignore[call-arg]
    verdicts = {
        name: validate_file(example, settings=settings, model=str(folder), workers=1).verdict
        for name, folder in (("plain", plain), ("tools", tools))
    }
    assert verdicts == {"plain": "not_ready", "tools": "ready"}
