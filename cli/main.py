"""``tunebot``: the command-line entry point.

Each subcommand lives in its own module and is added here; heavy imports
(Slack, torch) happen inside the command so ``tunebot validate`` starts fast.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

app = typer.Typer(
    name="tunebot",
    help="Validate fine-tuning datasets, run the Slack bot and the QLoRA worker.",
    no_args_is_help=True,
    add_completion=False,
)

# Subcommand modules; each exposes register(app). Missing ones are skipped so
# features can land one at a time.
COMMAND_MODULES = ("cli.validate", "cli.serve", "cli.worker", "cli.db")

for _name in COMMAND_MODULES:
    try:
        importlib.import_module(_name).register(app)
    except ModuleNotFoundError as _exc:
        if _exc.name != _name:
            raise


def installed_version() -> str:
    """The installed distribution's version (what pip and bug reports see)."""
    try:
        return version("tunebot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tunebot {installed_version()}")
        raise typer.Exit()


@app.callback()
def _main(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Validate fine-tuning datasets, run the Slack bot and the QLoRA worker."""


if __name__ == "__main__":
    app()
