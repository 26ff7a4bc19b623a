"""What checking one example produces: compact, so worker processes can send
millions of them back cheaply."""

from __future__ import annotations

from dataclasses import dataclass

from core.validation.content import Problem


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of checking one example.

    ``tokens`` is -1 when the example could not be counted; ``legacy`` holds
    (prompt ending, completion ending, completion start) for prompt/completion
    examples, which the file-level ``prepare_data`` advice needs.
    """

    line: int
    format: str
    tokens: int
    trained: int
    estimated: bool
    digest: bytes
    problems: tuple[Problem, ...]
    has_system: bool = True
    legacy: tuple[str, str, str] | None = None
