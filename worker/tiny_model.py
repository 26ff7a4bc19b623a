"""A tiny random Llama with a locally trained tokenizer, for tests and smoke runs.

Why: the worker must be testable on a machine with no network and no GPU, and a
new install needs a model it can train in seconds to prove the whole path works
(``tunebot worker --model tiny=OUT_DIR``). Nothing is downloaded: the tokenizer
is a byte-level BPE trained with ``tokenizers`` on a built-in text, the weights
are random.

``initializer_range=0.2`` is deliberate: with Llama's default 0.02 the random
network's outputs are so flat that a LoRA adapter cannot fit even a handful of
examples (DESIGN.md, known traps).

Usage::

    python -m worker.tiny_model OUT_DIR [--size tiny|small] [--seed 0] [--tools]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

END_TOKEN = "<|end|>"
PAD_TOKEN = "<|pad|>"
BOS_TOKEN = "<|begin|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")

# Each message renders as "<|role|>\ncontent<|end|>\n"; the generation prompt is
# "<|assistant|>\n", a prefix of the rendered assistant turn, which TRL needs to
# split conversational prompt/completion examples.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
# The same turns, plus tools: definitions as JSON in a first system turn, each
# call as JSON after the assistant's text, tool results as "tool" turns. With
# ``--tools`` the tiny model can train files with tool use (examples/
# support_chat.jsonl has some, and `tunebot demo` trains on it); the default
# template stays without tools so the worker's refusal of such files is testable.
TOOLS_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if tools %}{{ '<|system|>\nTools:\n' }}"
    "{% for tool in tools %}{{ tool | tojson }}{{ '\n' }}{% endfor %}"
    "{{ '<|end|>\n' }}{% endif %}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['content'] %}{{ message['content'] }}{% endif %}"
    "{% if message['tool_calls'] %}{% for call in message['tool_calls'] %}"
    "{{ '<call>' }}{{ call['function'] | tojson }}{{ '</call>' }}"
    "{% endfor %}{% endif %}"
    "{{ '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

_CORPUS = """\
The quick brown fox jumps over the lazy dog. A fine-tuned model answers in the
voice of its training data. Questions and answers, prompts and completions,
system messages and user messages. What is the capital of France? Paris.
Translate to French: hello -> bonjour. Summarise the ticket in one sentence.
Numbers 0 1 2 3 4 5 6 7 8 9 10 100 1000. JSON {"key": "value"} [1, 2, 3].
def main(): return 0  # code too. Colours: red green blue yellow purple orange.
Days: Monday Tuesday Wednesday Thursday Friday Saturday Sunday.
"""


@dataclass(frozen=True)
class TinySize:
    """Shape of the random network; ``small`` exists so benchmarks are not
    dominated by per-step overhead."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int


SIZES = {
    "tiny": TinySize(64, 128, 2, 4, 2, 512),
    "small": TinySize(256, 688, 4, 8, 4, 1024),
}


def _train_tokenizer(vocab_size: int, *, tools: bool = False) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    special = [PAD_TOKEN, BOS_TOKEN, END_TOKEN, *ROLE_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # any text encodes
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS.splitlines(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_TOKEN,
        eos_token=END_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=list(ROLE_TOKENS),
    )
    fast.chat_template = TOOLS_CHAT_TEMPLATE if tools else CHAT_TEMPLATE
    return fast


def write_tiny_model(
    out_dir: Path, *, size: str = "tiny", seed: int = 0, tools: bool = False
) -> Path:
    """Write a random Llama and its tokenizer to ``out_dir``; return the folder.

    ``tools``: give it :data:`TOOLS_CHAT_TEMPLATE`, which renders tool use.

    Raises:
        ValueError: ``size`` is not one of :data:`SIZES`.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    shape = SIZES[size]
    tokenizer = _train_tokenizer(shape.vocab_size, tools=tools)
    config = LlamaConfig(
        # The tokenizer (transformers, untyped here) has __len__ at run time; its type is Any-like.
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        # Rotary positions cost no weights: 4096 leaves room for a prompt plus
        # the 1,024 answer tokens an A/B session asks for (1024 refused them all).
        max_position_embeddings=4096,
        initializer_range=0.2,
        tie_word_embeddings=False,
        # Token ids exist on the trained fast tokenizer at run time; its stub lacks them.
        bos_token_id=tokenizer.bos_token_id,  # type: ignore[attr-defined]
        eos_token_id=tokenizer.eos_token_id,  # type: ignore[attr-defined]
        pad_token_id=tokenizer.pad_token_id,  # type: ignore[attr-defined]
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    # save_pretrained exists on the fast tokenizer at run time; its stub lacks it.
    tokenizer.save_pretrained(out_dir)  # type: ignore[attr-defined]
    return out_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tools", action="store_true", help="a chat template that renders tool use"
    )
    args = parser.parse_args(argv)
    path = write_tiny_model(args.out_dir, size=args.size, seed=args.seed, tools=args.tools)
    print(f"wrote a {args.size} random Llama to {path}")


if __name__ == "__main__":
    main()
