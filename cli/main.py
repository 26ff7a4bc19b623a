"""``tunebot``: the command-line entry point.

Each subcommand lives in its own module and is added here; heavy imports
(Slack, torch) happen inside the command so ``tunebot validate`` starts fast.
"""

from __future__ import annotations

import typer

from cli import poll, serve, validate, worker

app = typer.Typer(
    name="tunebot",
    help="Validate fine-tuning datasets, run the Slack bot and the QLoRA worker.",
    no_args_is_help=True,
    add_completion=False,
)

for _command in (validate, serve, poll, worker):
    _command.register(app)


if __name__ == "__main__":
    app()
