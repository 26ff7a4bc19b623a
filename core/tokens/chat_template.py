"""A model folder's chat template, compiled the way transformers compiles it.

Why not transformers itself: the bot and the validator must not load it (or
torch), yet they must render a conversation exactly as the worker's trainer
does. transformers renders with jinja2 in an immutable sandbox with
``trim_blocks``, ``lstrip_blocks``, loop controls, a ``tojson`` filter that
keeps non-ASCII text and ``raise_exception``/``strftime_now`` globals; this
module builds the same environment, so one template gives one text in every
process.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from core.errors import ConfigError

#: What a template may raise while rendering one conversation (``raise_exception``
#: raises ``TemplateError``; templates also index missing keys or call ``trim`` on None).
RENDER_ERRORS = (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError)


def read_tokenizer_config(folder: Path) -> dict[str, Any]:
    """``tokenizer_config.json`` of ``folder``, or ``{}`` when there is none.

    Raises:
        ConfigError: the file exists but is not JSON.
    """
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"Cannot read {path}: {error}") from error
    return config if isinstance(config, dict) else {}


def token_text(value: Any) -> str:
    """Special tokens appear as strings or as ``{"content": ...}`` objects."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


def template_source(folder: Path, config: dict[str, Any]) -> str | None:
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


def compile_template(source: str | None, folder: Path) -> jinja2.Template | None:
    """Compile like transformers does: sandboxed, trimmed blocks, loop controls.

    Raises:
        ConfigError: the template does not compile.
    """
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
