"""``tunebot``: the command-line entry point.

Each subcommand lives in its own module and is added here; heavy imports
(Slack, torch) happen inside the command so ``tunebot validate`` starts fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="tunebot",
    help="Validate fine-tuning datasets, run the Slack bot and the QLoRA worker.",
    no_args_is_help=True,
    add_completion=False,
)

# Subcommand modules; each exposes register(app). Missing ones are skipped so
# features can land one at a time.
COMMAND_MODULES = ("cli.validate", "cli.serve", "cli.worker")

for _name in COMMAND_MODULES:
    try:
        importlib.import_module(_name).register(app)
    except ModuleNotFoundError as _exc:
        if _exc.name != _name:
            raise


if __name__ == "__main__":
    app()
