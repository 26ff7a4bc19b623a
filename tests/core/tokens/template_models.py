"""The tiny model's tokenizer dressed as Llama 3.1, Qwen 2.5, Mistral v0.3 and Gemma 2.

Why: the label-mask tests must run the real published chat templates (kept in
``tests/fixtures/chat_templates``) without downloading any model. Each family's
control tokens are added to the tiny byte-level BPE as special tokens, so
``<|eot_id|>`` or ``[TOOL_CALLS]`` is one token, as in the real tokenizers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tokenizers import AddedToken, Tokenizer

TEMPLATES = Path(__file__).resolve().parents[2] / "fixtures" / "chat_templates"


@dataclass(frozen=True)
class Family:
    template: str
    bos: str | None
    eos: str
    specials: tuple[str, ...]


FAMILIES = {
    "llama3_1": Family(
        "llama3_1.jinja",
        "<|begin_of_text|>",
        "<|eot_id|>",
        (
            "<|begin_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
            "<|eom_id|>",
            "<|python_tag|>",
        ),
    ),
    "qwen2_5": Family(
        "qwen2_5.jinja", None, "<|im_end|>", ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
    ),
    "mistral_v0_3": Family(
        "mistral_v0_3.jinja",
        "<s>",
        "</s>",
        (
            "<s>",
            "</s>",
            "[INST]",
            "[/INST]",
            "[TOOL_CALLS]",
            "[AVAILABLE_TOOLS]",
            "[/AVAILABLE_TOOLS]",
            "[TOOL_RESULTS]",
            "[/TOOL_RESULTS]",
        ),
    ),
    "gemma2": Family(
        "gemma2.jinja", "<bos>", "<eos>", ("<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>")
    ),
}


def dress(tiny_dir: Path, family: str, out: Path) -> Path:
    """Write ``out``: the tiny tokenizer with ``family``'s special tokens and template."""
    spec = FAMILIES[family]
    tokenizer = Tokenizer.from_file(str(tiny_dir / "tokenizer.json"))
    tokenizer.add_special_tokens([AddedToken(t, special=True) for t in spec.specials])
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / "tokenizer.json"))
    config = {"bos_token": spec.bos, "eos_token": spec.eos, "pad_token": "<|pad|>"}
    (out / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    source = (TEMPLATES / spec.template).read_text(encoding="utf-8")
    (out / "chat_template.jinja").write_text(source, encoding="utf-8")
    return out
