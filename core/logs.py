"""One logging setup for every ``tunebot`` process, with ids and without secrets.

Why here: ``serve``, ``worker`` and ``doctor`` each called ``basicConfig`` (or
let uvicorn) in their own way; operators need one shape of line they can ship
to a log store. :func:`configure_logging` installs a single stderr handler:

- ``json`` (the default when stderr is not a terminal, i.e. under systemd,
  Docker or Kubernetes): one object per line with ``ts``, ``level``,
  ``logger``, ``message`` and, where known, ``event_id``, ``request_id`` and
  ``job_id``; a traceback goes in ``exc``.
- ``text``: the same facts for a person at a terminal.

The ids live in context variables (:func:`log_ids`), so a Slack listener, a
worker request or a polling task sets them once and every line logged inside,
from any module, carries them; threads started with ``contextvars.copy_context``
(and asyncio tasks) inherit them.

Secrets never reach the output: every secret setting's value, and anything
shaped like a Slack or OpenAI token or a bearer header, is replaced by
``[redacted]`` in the finished line (message, arguments and traceback alike).
Dataset contents are kept out by the callers, which log counts and ids only.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, ParamSpec, TextIO, TypeVar

if TYPE_CHECKING:
    from core.config import Settings

LogFormat = Literal["json", "text"]
P = ParamSpec("P")
T = TypeVar("T")

IDS = ("event_id", "request_id", "job_id")
"""The correlation ids a line may carry, in the order text lines show them."""

_ids: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(name, default=None) for name in IDS
}

# Slack tokens (xoxb-, xoxp-, xapp-, ...), OpenAI keys and bearer headers that
# a library might echo, beyond the configured values redacted by name.
_TOKEN_SHAPES = re.compile(
    r"(xox[abeoprs]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,}|sk-[A-Za-z0-9_*-]{6,}"
    r"|Bearer\s+[^\s\"']+)"
)
REDACTED = "[redacted]"


def current_ids() -> dict[str, str]:
    """The ids set in this context (only those that are set)."""
    return {name: value for name, var in _ids.items() if (value := var.get()) is not None}


@contextmanager
def log_ids(
    *, event_id: str | None = None, request_id: str | None = None, job_id: str | None = None
) -> Iterator[None]:
    """Tag every line logged inside with these ids (None leaves an id as it was).

    Example::

        with log_ids(job_id=job.id):
            poll(job)   # every line logged here carries "job_id"
    """
    given = {"event_id": event_id, "request_id": request_id, "job_id": job_id}
    tokens = [(_ids[name], _ids[name].set(value)) for name, value in given.items() if value]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextIds(logging.Filter):
    """Copies the context's ids onto each record, so formatters and tests see them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in IDS:
            if not hasattr(record, name):
                setattr(record, name, _ids[name].get())
        return True


class Redactor:
    """Replaces known secret values and token-shaped strings with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is removed whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_SHAPES.sub(REDACTED, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring for the keys)."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        for name in IDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger [ids] message`` for a terminal."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{name}={value}" for name in IDS if (value := getattr(record, name, None)) is not None
        )
        text = super().format(record)
        if ids:
            head, _, rest = text.partition(f" {record.name} ")
            text = f"{head} {record.name} [{ids}] {rest}"
        return self.redact(text)


def default_format(stream: TextIO) -> LogFormat:
    """``text`` for a person at a terminal, ``json`` for everything else."""
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure_logging(
    *,
    log_format: LogFormat | None = None,
    secrets: Iterable[str] = (),
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every logger's records to one stderr handler in ``log_format``.

    Replaces handlers already on the root logger, so calling it twice (or after
    a library's ``basicConfig``) still leaves one line per record.

    Parameters:
        log_format: ``json`` or ``text``; None picks by :func:`default_format`.
        secrets: values that must never appear in a line (the secret settings).
        level: the root logger's level.
        stream: where lines go (default ``sys.stderr``).

    Returns the installed handler.
    """
    stream = stream if stream is not None else sys.stderr
    chosen = log_format or default_format(stream)
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextIds())
    handler.setFormatter(JsonFormatter(redact) if chosen == "json" else TextFormatter(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that install their own handlers would print each line twice,
    # once unformatted; route them through the root handler instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler"):
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    logging.captureWarnings(True)
    return handler


def setup_logging(settings: Settings, *, level: int = logging.INFO) -> logging.Handler:
    """What every ``tunebot`` subcommand calls once its settings are loaded:
    :func:`configure_logging` in ``TUNEBOT_LOG_FORMAT`` with every secret setting
    redacted."""
    return configure_logging(
        log_format=settings.log_format, secrets=settings.secret_values(), level=level
    )


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the submitter's context.

    Why: a plain pool runs tasks with empty context variables, so the ids set
    around a Slack request (:func:`log_ids`) vanished from the listener's lines.
    """

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = contextvars.copy_context()
        return super().submit(lambda: context.run(fn, *args, **kwargs))
