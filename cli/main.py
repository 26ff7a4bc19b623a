"""``tunebot``: the command-line entry point.

Each subcommand lives in its own module and is added here; heavy imports
(Slack, torch) happen inside the command so ``tunebot validate`` starts fast.
A ``ConfigError`` from any subcommand (an invalid setting, a bad option) is
printed as one message with exit status 2, never as a traceback.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
from typer.core import TyperGroup, TyperOption

from cli import db, demo, doctor, poll, serve, validate, worker
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


def _no_type_for_flags() -> None:
    """Show no ``<bool>`` placeholder next to flags in ``--help``.

    Why: typer's rich help prints each option's type, and a flag takes no value,
    so ``--fix-only <bool>`` reads as if it wanted one. Flags keep an empty type.
    """
    original = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else original(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]  # see docstring


_no_type_for_flags()

app = typer.Typer(
    cls=_Commands,
    name="tunebot",
    help="Validate fine-tuning datasets, run the Slack bot and the QLoRA worker.",
    no_args_is_help=True,
    add_completion=False,
)

for _command in (validate, serve, poll, worker, db, demo, doctor):
    _command.register(app)


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
