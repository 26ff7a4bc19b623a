"""``tunebot``: the command-line entry point.

Each subcommand lives in its own module and is added here; heavy imports
(Slack, torch) happen inside the command so ``tunebot validate`` starts fast.
A ``ConfigError`` from any subcommand (an invalid setting, a bad option) is
printed as one message with exit status 2, never as a traceback.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

from core.errors import ConfigError


class _Commands(TyperGroup):
    """Subcommands, with configuration errors turned into one message and exit 2.

    Why here: every subcommand (and any added later) loads settings, and a bad
    setting is the user's to fix, so it must never surface as a traceback.
    """

    # ctx: Any because typer vendors click privately (typer._click.core.Context).
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            typer.echo(f"Error: {exc.user_message()}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Commands,
    name="tunebot",
    help="Validate fine-tuning datasets, run the Slack bot and the QLoRA worker.",
    no_args_is_help=True,
    add_completion=False,
)

# Subcommand modules; each exposes register(app). Missing ones are skipped so
# features can land one at a time.
COMMAND_MODULES = ("cli.validate", "cli.serve", "cli.worker", "cli.doctor")

for _name in COMMAND_MODULES:
    try:
        importlib.import_module(_name).register(app)
    except ModuleNotFoundError as _exc:
        if _exc.name != _name:
            raise


if __name__ == "__main__":
    app()
