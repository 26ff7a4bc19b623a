"""Exact token counts for open models, from the model's own local tokenizer.

The worker trains open models with TRL, which renders each chat example with
the tokenizer's chat template and tokenizes the result. We do the same with the
``tokenizers`` library and jinja2 (the engine transformers uses for templates),
so the count is the sequence length the worker will train on, without loading
transformers in the bot. Nothing is downloaded: the folder must already hold
``tokenizer.json``.

When the folder has no chat template, or the template rejects an example
(e.g. "roles must alternate"), messages are counted with the same rules as
:class:`~core.tokens.ChatTokenCounter` over this tokenizer, marked ``estimated``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer

from core.errors import ConfigError
from core.tokens.counting import ExampleTokens, MessageCounter


class HFTokenCounter:
    """Counts examples with a local Hugging Face tokenizer folder (or tokenizer.json path).

    Raises (from the constructor):
        ConfigError: no readable ``tokenizer.json`` there, or a chat template
            that does not compile.
    """

    def __init__(self, tokenizer_path: str | Path) -> None:
        path = Path(tokenizer_path).expanduser()
        folder = path if path.is_dir() else path.parent
        file = path / "tokenizer.json" if path.is_dir() else path
        try:
            self.tokenizer = Tokenizer.from_file(str(file))
        except Exception as error:  # tokenizers raises a bare Exception on bad files
            raise ConfigError(
                f"Cannot read a Hugging Face tokenizer from {file}: {error}",
                hint="Point TUNEBOT_HF_TOKENIZER at a folder holding the model's tokenizer.json.",
            ) from error
        config = _read_config(folder)
        self._template_vars = {
            key: _token_text(config.get(key)) for key in ("bos_token", "eos_token", "pad_token")
        }
        self._template = _compile_template(_template_source(folder, config), folder)
        self._fallback = MessageCounter(self._encode)

    @property
    def has_chat_template(self) -> bool:
        """Whether chat counts are exact (rendered with the model's template)."""
        return self._template is not None

    def count_text(self, text: str) -> int:
        """Tokens of ``text`` alone, without the tokenizer's added special tokens."""
        return len(self._encode(text))

    def count_prompt_completion(self, prompt: str, completion: str) -> ExampleTokens:
        """Prompt + completion tokens (the worker trains on their concatenation)."""
        completion_tokens = self.count_text(completion)
        return ExampleTokens(
            total=self.count_text(prompt + completion), trained=completion_tokens, estimated=False
        )

    def count_messages(
        self,
        messages: Sequence[Any],
        *,
        tools: list[Any] | None = None,
        functions: list[Any] | None = None,
    ) -> ExampleTokens:
        """Tokens of the example as the chat template renders it.

        ``trained`` is the tokens of trained assistant messages' content, each
        tokenized alone (may differ by a token at a boundary from the rendered text).
        """
        fallback = self._fallback.count_messages(messages, tools=tools, functions=functions)
        if self._template is None or functions:
            return ExampleTokens(fallback.total, fallback.trained, estimated=True)
        try:
            text = self._template.render(
                messages=messages,
                tools=tools or None,
                add_generation_prompt=False,
                **self._template_vars,
            )
        except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError):
            return ExampleTokens(fallback.total, fallback.trained, estimated=True)
        return ExampleTokens(
            total=self.count_text(text), trained=fallback.trained, estimated=fallback.estimated
        )

    def _encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False).ids
        return ids


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"Cannot read {path}: {error}") from error
    return config if isinstance(config, dict) else {}


def _token_text(value: Any) -> str:
    """Special tokens appear as strings or as ``{"content": ...}`` objects."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


def _template_source(folder: Path, config: dict[str, Any]) -> str | None:
    """The chat template: ``chat_template.jinja`` (newer exports) or the config's entry."""
    file = folder / "chat_template.jinja"
    if file.is_file():
        return file.read_text(encoding="utf-8")
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates; training uses "default"
        template = next(
            (
                t.get("template")
                for t in template
                if isinstance(t, dict) and t.get("name") == "default"
            ),
            None,
        )
    return template if isinstance(template, str) else None


def _compile_template(source: str | None, folder: Path) -> jinja2.Template | None:
    """Compile like transformers does: sandboxed, trimmed blocks, loop controls."""
    if source is None:
        return None
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(source)
    except jinja2.TemplateError as error:
        raise ConfigError(f"The chat template in {folder} does not compile: {error}") from error


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)
