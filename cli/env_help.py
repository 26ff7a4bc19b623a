"""The "Environment" section of ``tunebot serve --help`` and ``tunebot worker --help``."""

from __future__ import annotations

from collections.abc import Sequence

from core.config import Settings, environment_variables

# What `tunebot worker` reads (worker/settings.py); the rest of Settings is the bot's.
WORKER_VARIABLES = (
    "TUNEBOT_WORKER_API_KEY",
    "TUNEBOT_MAX_FILE_BYTES",
    "TUNEBOT_PRICES",
    "TUNEBOT_WORKER_CANCEL_GRACE",
    "TUNEBOT_WORKER_LOADED_MODELS",
)


def environment_epilog(names: Sequence[str] | None = None) -> str:
    """One line per variable (rich help keeps lines apart only between paragraphs)."""
    lines = [f"{name}: {text}" for name, text in environment_variables(Settings, names)]
    return "Environment (or .env):\n\n" + "\n\n".join(lines)
