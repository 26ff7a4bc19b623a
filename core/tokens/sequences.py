"""What the worker trains, token by token: one function for the trainer and the validator.

The worker's ``trained_tokens`` must equal what ``tunebot validate`` promised,
so both sides call :class:`SequenceBuilder` on the model's own tokenizer folder:
the trainer hands its ``input_ids``/``labels`` to TRL as a pre-tokenized
dataset, the validator counts their lengths.

What carries loss (OpenAI's rules, DESIGN.md "The worker"):

* **chat** -- the conversation is rendered with the model's own chat template
  (``tools`` included) and tokenized once, like ``apply_chat_template``. Every
  assistant message whose ``weight`` is not 0 is trained: exactly the text the
  model would generate for it after the template's generation prompt, through
  its end-of-turn token (``<|eot_id|>``, ``<|im_end|>``, ``</s>``...). System,
  user and tool messages, and weight-0 answers, are context only.
* **prompt/completion** -- the completion plus EOS (as TRL does it).
* **text** -- every token plus EOS (as TRL does it).

How the assistant spans are found (and why not ``{% generation %}``): the
published templates of Llama 3.x, Qwen 2.5 and Mistral have no
``{% generation %}`` markers, so ``return_assistant_tokens_mask`` gives an empty
mask for them. Instead, for assistant message *i* the conversation up to it is
rendered twice, ``messages[:i]`` with the generation prompt and
``messages[:i+1]`` without: the difference is what the model must generate.
Trailing whitespace after the end-of-turn token (Qwen's and Gemma's ``"\\n"``)
is context, not output. Most templates are prefix-stable, so the difference
sits at the same place in the full rendering. Some are not: Mistral v0.3
moves the system prompt and the tool list next to the *last* user message. For
those the turn's text is taken from a rendering without system message and
tools (which do not change how an answer renders) and found in the full
rendering after the previous answer. A template that refuses an example, or
whose answers cannot be found, is a validation error, never a silent change.

Tokenizing the whole rendering once (not segment by segment) keeps
SentencePiece tokenizers correct; a token is trained when it starts inside a
trained span.
"""

from __future__ import annotations

import functools
import json
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from tokenizers import Tokenizer

from core.errors import ConfigError, DatasetError
from core.tokens.chat_template import (
    RENDER_ERRORS,
    compile_template,
    read_tokenizer_config,
    template_source,
    token_text,
)

TEMPLATE_ERROR = "chat_template_error"
NO_TOOLS = "template_cannot_render_tools"
IGNORE_INDEX = -100
"""The label PyTorch's cross-entropy (and TRL) skips."""

_SPECIAL_KEYS = ("bos_token", "eos_token", "pad_token", "unk_token")
# A tool conversation every tool-capable template renders; each marker must
# survive into the text (a template that drops them would train without them).
_PROBE_ID = "probe0001"  # Mistral insists on 9-character call ids
_PROBE_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "tunebot_probe_lookup",
            "description": "tunebot probe description",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]
_PROBE_MESSAGES: list[dict[str, Any]] = [
    {"role": "user", "content": "probe question"},
    {
        "role": "assistant",
        "tool_calls": [
            {
                "id": _PROBE_ID,
                "type": "function",
                "function": {
                    "name": "tunebot_probe_lookup",
                    "arguments": {"q": "tunebot_probe_argument"},
                },
            }
        ],
    },
    {"role": "tool", "tool_call_id": _PROBE_ID, "content": "tunebot_probe_result"},
    {"role": "assistant", "content": "probe answer"},
]
_PROBE_MARKERS = ("tunebot probe description", "tunebot_probe_argument", "tunebot_probe_result")


@dataclass(frozen=True)
class TrainingSequence:
    """One example as the trainer sees it: token ids and which of them carry loss."""

    input_ids: list[int]
    loss_mask: list[bool]

    @property
    def total(self) -> int:
        """Tokens of the sequence: what the example bills, per epoch."""
        return len(self.input_ids)

    @property
    def trained(self) -> int:
        """Tokens that carry loss."""
        return sum(self.loss_mask)

    def labels(self) -> list[int]:
        """``input_ids`` with :data:`IGNORE_INDEX` where no loss is taken."""
        return [
            t if m else IGNORE_INDEX for t, m in zip(self.input_ids, self.loss_mask, strict=True)
        ]


class SequenceBuilder:
    """Turns examples into :class:`TrainingSequence` with one model's tokenizer and template.

    Parameters:
        tokenizer_path: a folder holding ``tokenizer.json`` (and usually
            ``tokenizer_config.json`` with the chat template, or
            ``chat_template.jinja``), or the ``tokenizer.json`` file itself.

    Raises (from the constructor):
        ConfigError: no readable ``tokenizer.json``, or a template that does not compile.
    """

    def __init__(self, tokenizer_path: str | Path) -> None:
        path = Path(tokenizer_path).expanduser()
        self.folder = path if path.is_dir() else path.parent
        file = path / "tokenizer.json" if path.is_dir() else path
        try:
            self.tokenizer = Tokenizer.from_file(str(file))
        except Exception as error:  # tokenizers raises a bare Exception on bad files
            raise ConfigError(
                f"Cannot read a Hugging Face tokenizer from {file}: {error}",
                hint="Point at a folder holding the model's tokenizer.json.",
            ) from error
        config = read_tokenizer_config(self.folder)
        self.template_vars = {key: token_text(config.get(key)) for key in _SPECIAL_KEYS}
        self.template = compile_template(template_source(self.folder, config), self.folder)
        self.special_tokens = frozenset(
            token.content
            for token in self.tokenizer.get_added_tokens_decoder().values()
            if token.special
        )

    # --- plain formats (TRL's own behaviour, kept) ---------------------------
    def text(self, text: str) -> TrainingSequence:
        """Continued pre-training: every token is trained, EOS appended as TRL does."""
        ids = self._encode_plain(self._with_eos(text))
        return TrainingSequence(ids, [True] * len(ids))

    def prompt_completion(self, prompt: str, completion: str) -> TrainingSequence:
        """The completion (plus EOS) is trained; the prompt is context.

        As in TRL, the completion starts where the tokenized prompt and the
        tokenized prompt+completion first differ.
        """
        prompt_ids = self._encode_plain(prompt)
        ids = self._encode_plain(prompt + self._with_eos(completion))
        shared = 0
        for a, b in zip(prompt_ids, ids, strict=False):
            if a != b:
                break
            shared += 1
        return TrainingSequence(ids, [False] * shared + [True] * (len(ids) - shared))

    # --- chat ------------------------------------------------------------------
    @functools.cached_property
    def renders_tools(self) -> bool:
        """Whether the template renders tool definitions, tool calls and tool results."""
        if self.template is None:
            return False
        try:
            text = self._render(_PROBE_MESSAGES, _PROBE_TOOLS, add_generation_prompt=False)
        except RENDER_ERRORS:
            return False
        return all(marker in text for marker in _PROBE_MARKERS)

    def chat(
        self,
        messages: Sequence[Any],
        *,
        tools: list[Any] | None = None,
        functions: list[Any] | None = None,
    ) -> TrainingSequence:
        """A chat example rendered with the model's template; see the module docstring.

        Parameters:
            messages: the example's OpenAI-format ``messages``.
            tools: the example's ``tools`` definitions, if any.
            functions: the deprecated ``functions`` definitions, if any (refused).

        Raises:
            DatasetError: code ``template_cannot_render_tools`` when the example
                uses tools and the template cannot render them; code
                ``chat_template_error`` when there is no template, the template
                refuses the example, or an answer cannot be found in its rendering.
        """
        if self.template is None:
            raise DatasetError(
                f"The model at {self.folder} has no chat template, so chat examples cannot be "
                "rendered for it.",
                code=TEMPLATE_ERROR,
                hint="Use an instruct model whose tokenizer has a chat template, or train "
                "prompt/completion or text files.",
            )
        conversation = [template_message(m) for m in messages]
        self._check_tools(conversation, tools=tools, functions=functions)
        tools = tools or None
        full = self._render_or_refuse(conversation, tools, add_generation_prompt=False)
        spans: list[tuple[int, int]] = []
        cursor = 0
        for index, message in enumerate(conversation):
            if message.get("role") != "assistant":
                continue
            start, end = self._locate(conversation, index, tools, full=full, cursor=cursor)
            if messages[index].get("weight", 1) != 0:
                spans.append((start, end))
            cursor = end
        encoding = self.tokenizer.encode(full, add_special_tokens=False)
        return TrainingSequence(list(encoding.ids), _mask(encoding.offsets, spans))

    # --- internals -------------------------------------------------------------
    def _check_tools(
        self, conversation: list[dict[str, Any]], *, tools: Any, functions: Any
    ) -> None:
        legacy = functions or any(
            "function_call" in m or m.get("role") == "function" for m in conversation
        )
        if legacy:
            raise DatasetError(
                "Chat templates render tools, not the deprecated 'functions'/'function_call' "
                "fields, so the worker cannot train this example as written.",
                code=NO_TOOLS,
                hint="Rewrite it with 'tools', assistant 'tool_calls' and 'tool' messages.",
            )
        uses_tools = bool(tools) or any(
            "tool_calls" in m or m.get("role") == "tool" for m in conversation
        )
        if uses_tools and not self.renders_tools:
            raise DatasetError(
                f"The chat template of the model at {self.folder} cannot render tools (tool "
                "definitions, tool calls or tool results are refused or dropped), so the worker "
                "cannot train this example as written.",
                code=NO_TOOLS,
                hint="Pick a base model whose template supports tools (for example Qwen 2.5 or "
                "Llama 3.1 Instruct), or remove tool use from these examples.",
            )

    def _locate(
        self,
        conversation: list[dict[str, Any]],
        index: int,
        tools: list[Any] | None,
        *,
        full: str,
        cursor: int,
    ) -> tuple[int, int]:
        """Where assistant message ``index`` is in ``full``: (start, end) characters."""
        context, message = conversation[:index], conversation[index]
        prompt = self._render_or_refuse(context, tools, add_generation_prompt=True)
        if index == len(conversation) - 1:
            upto = full  # the conversation ends with this answer
        else:
            upto = self._render_or_refuse([*context, message], tools, add_generation_prompt=False)
        if upto.startswith(prompt):
            turn = self._through_end_token(upto[len(prompt) :])
            if turn and len(prompt) >= cursor and full.startswith(prompt + turn):
                return len(prompt), len(prompt) + len(turn)
        # Not prefix-stable here (e.g. Mistral puts the system prompt and the tool
        # list next to the last user message): render the turn without them.
        bare = [m for m in context if m.get("role") != "system"]
        prompt = self._render_or_refuse(bare, None, add_generation_prompt=True)
        upto = self._render_or_refuse([*bare, message], None, add_generation_prompt=False)
        turn = self._through_end_token(upto[len(prompt) :]) if upto.startswith(prompt) else ""
        start = full.find(turn, cursor) if turn else -1
        if start < 0:
            raise DatasetError(
                f"Cannot find assistant message {index + 1} in the conversation as the model's "
                "chat template renders it, so its tokens cannot be trained exactly.",
                code=TEMPLATE_ERROR,
                hint="Check that the example's roles follow the order the model's template "
                "expects (system, then alternating user and assistant).",
            )
        return start, start + len(turn)

    def _through_end_token(self, turn: str) -> str:
        """Drop whitespace the template writes after the end-of-turn token."""
        stripped = turn.rstrip()
        if stripped != turn and any(stripped.endswith(t) for t in self.special_tokens):
            return stripped
        return turn

    def _render_or_refuse(
        self,
        messages: list[dict[str, Any]],
        tools: list[Any] | None,
        *,
        add_generation_prompt: bool,
    ) -> str:
        try:
            return self._render(messages, tools, add_generation_prompt=add_generation_prompt)
        except RENDER_ERRORS as error:
            detail = error.message if isinstance(error, jinja2.TemplateError) else repr(error)
            raise DatasetError(
                f"The model's chat template refuses this example: {detail}",
                code=TEMPLATE_ERROR,
                hint="Reshape the example the way this model's template accepts it, or pick "
                "another base model.",
            ) from error

    def _render(
        self,
        messages: list[dict[str, Any]],
        tools: list[Any] | None,
        *,
        add_generation_prompt: bool,
    ) -> str:
        assert self.template is not None
        return self.template.render(
            messages=messages,
            tools=tools,
            add_generation_prompt=add_generation_prompt,
            **self.template_vars,
        )

    def _with_eos(self, text: str) -> str:
        eos = self.template_vars["eos_token"]
        return text if not eos or text.endswith(eos) else text + eos

    def _encode_plain(self, text: str) -> list[int]:
        # Plain text goes through the tokenizer's post-processor (BOS for
        # Llama-style tokenizers), as ``tokenizer(text)`` does in TRL.
        return list(self.tokenizer.encode(text, add_special_tokens=True).ids)


def template_message(message: Any) -> dict[str, Any]:
    """An OpenAI-format message in the shape Hugging Face chat templates read.

    ``weight`` is a training switch, not text; ``None`` values are dropped as
    transformers drops them; text parts are joined; ``developer`` is OpenAI's
    new name for ``system``; tool-call ``arguments`` (a JSON string in OpenAI's
    format) become the object templates expect.
    """
    if not isinstance(message, dict):
        raise DatasetError("A message is not a JSON object.", code=TEMPLATE_ERROR)
    out: dict[str, Any] = {}
    for key, value in message.items():
        if key == "weight" or value is None:
            continue
        if key == "role" and value == "developer":
            value = "system"
        elif key == "content" and isinstance(value, list):
            value = "".join(
                p["text"] for p in value if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
        elif key == "tool_calls" and isinstance(value, list):
            value = [_template_call(call) for call in value]
        out[key] = value
    return out


def _template_call(call: Any) -> Any:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return call
    function = call["function"]
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            parsed = arguments
        if isinstance(parsed, dict):
            function = {**function, "arguments": parsed}
    return {**call, "function": function}


def _mask(offsets: Sequence[tuple[int, int]], spans: list[tuple[int, int]]) -> list[bool]:
    """True for each token that starts inside one of the spans.

    Token starts never decrease along an encoding, so each span is a slice
    found by bisection (this runs once per example in the validator's loop).
    """
    starts = [start for start, _ in offsets]
    mask = [False] * len(starts)
    for begin, end in spans:
        first, last = bisect_left(starts, begin), bisect_left(starts, end)
        mask[first:last] = [True] * (last - first)
    return mask
