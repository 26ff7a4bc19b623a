"""``/finetune models``: what each configured provider can fine-tune and serve."""

from __future__ import annotations

from typing import Any

from bot.blocks.limits import MAX_SECTION_TEXT, truncate
from bot.blocks.text import error_text, provider_name
from bot.context import BotContext
from bot.listeners.commands.parsing import Reply, UsageError
from core.errors import ProviderError

NAME = "models"
USAGE = "`/finetune models` — models each configured provider can fine-tune and serve"
SHOWN = 25


def handle(ctx: BotContext, args: list[str], command: dict[str, Any]) -> Reply:
    if args:
        raise UsageError("`models` takes no arguments.", usage=USAGE)
    if not ctx.providers:
        return Reply(text="No provider is configured. Set TUNEBOT_WORKER_URL or OPENAI_API_KEY.")
    lines = []
    for name, provider in ctx.providers.items():
        try:
            models = provider.list_models()
        except ProviderError as exc:
            lines.append(f"*{provider_name(name)}*: unavailable — {error_text(exc)}")
            continue
        more = f" and {len(models) - SHOWN} more" if len(models) > SHOWN else ""
        shown = ", ".join(f"`{m}`" for m in models[:SHOWN]) or "none"
        lines.append(f"*{provider_name(name)}* ({name}): {shown}{more}")
    return Reply(text=truncate("\n".join(lines), MAX_SECTION_TEXT))
