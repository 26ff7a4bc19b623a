"""``tunebot demo``: the whole loop in one command, before creating a Slack app.

It runs the real bot (``tunebot serve``) and the real worker (``tunebot
worker`` with the tiny offline model) against the Slack stand-in that ships
with tunebot (``bot.fakeslack``), drives them as Slack would, and shows the
channel live in the terminal; ``--html OUT.html`` also writes the channel as a
self-contained page. Needs the ``[train]`` extra; nothing leaves 127.0.0.1.

Modules: ``stack`` (the processes), ``script`` (the scenes), ``terminal`` and
``page`` (the two views), ``mrkdwn`` (Slack's text markup).
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support_chat.jsonl"


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the ``tunebot`` command."""
    app.command("demo")(demo_command)


def demo_command(
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write the channel as one self-contained HTML page (loss curve inlined).",
            dir_okay=False,
            writable=True,
        ),
    ] = None,
    dataset: Annotated[
        Path,
        typer.Option(
            "--dataset",
            help="The chat JSONL alice drops (default: examples/support_chat.jsonl).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = EXAMPLE,
) -> None:
    """Run the bot and the worker (tiny model) against a local Slack stand-in and show it."""
    from rich.console import Console

    from cli.worker import INSTALL_HINT, missing_train_modules

    missing = missing_train_modules()
    if missing:
        typer.echo(f"tunebot demo runs the real worker. Missing: {', '.join(missing)}.", err=True)
        typer.echo(INSTALL_HINT, err=True)
        raise typer.Exit(2)
    if html is not None and not html.parent.is_dir():
        typer.echo(f"Error: --html: folder {html.parent} does not exist.", err=True)
        raise typer.Exit(2)

    from core.config import load_validation_settings
    from core.validation import validate_file

    # Checked here first (a second): the bot would say the same after a minute of start-up.
    settings = load_validation_settings()
    if validate_file(dataset, settings=settings, workers=1).verdict == "not_ready":
        typer.echo(
            f"Error: --dataset: {dataset.name} is not ready to train (see `tunebot validate "
            f"{dataset}`). The demo needs a dataset the bot can start a job on.",
            err=True,
        )
        raise typer.Exit(2)

    from cli.demo.page import render_page
    from cli.demo.script import NOISE_NOTE, Demo
    from cli.demo.stack import DemoError, Stack

    console = Console(highlight=False)
    started = time.monotonic()
    console.rule("[bold]tunebot demo")
    console.print(
        "The real bot ([bold]tunebot serve[/bold]) and the real worker ([bold]tunebot worker"
        "[/bold], a tiny random model on CPU) run against a Slack stand-in on 127.0.0.1. "
        "Nothing leaves this machine."
    )
    console.print(f"[yellow]Note:[/yellow] {NOISE_NOTE}")
    with tempfile.TemporaryDirectory(prefix="tunebot-demo-") as tmp:
        demo: Demo | None = None
        try:
            with Stack(Path(tmp)) as stack:
                stack.start_bot(admin="U0ALICE")
                with console.status("Building the tiny model (worker.tiny_model --tools)…"):
                    model = stack.build_tiny_model()
                with console.status("Starting tunebot worker and tunebot serve…"):
                    stack.start_worker(model)
                    stack.wait_for_bot()
                console.print(f"Ready after {time.monotonic() - started:.0f} s.")
                demo = Demo(stack, console, dataset=dataset)
                try:
                    demo.run()
                finally:
                    demo.close()
                console.rule("[bold]Done")
                console.print("Stopping the bot and the worker…")
        except DemoError as exc:
            console.print(f"[red]The demo stopped:[/red] {exc}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            console.print("[yellow]Interrupted: stopped the bot and the worker.[/yellow]")
            raise typer.Exit(130) from None
    elapsed = time.monotonic() - started
    cpu = sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),  # bot, worker, trainer, model build
        )
    )
    if html is not None and demo is not None:
        html.write_text(
            render_page(
                demo.transcript.posts,
                title="tunebot demo: #fine-tuning",
                intro=(
                    "What the real tunebot posted in a Slack stand-in: a dataset report, a job "
                    "on the worker with its progress and loss curve, and a blind A/B test."
                ),
                note=NOISE_NOTE,
                names=demo.names,
            ),
            encoding="utf-8",
        )
        console.print(f"Wrote {html} (self-contained: open it in any browser).")
    console.print(
        f"The demo took {elapsed:.0f} s ({cpu:.0f} s of CPU time in all its processes). "
        "Every process it started has stopped and its temporary folder is gone."
    )
    console.print(
        "Next: create the Slack app from manifest.yml and run [bold]tunebot serve[/bold] "
        "(README, “Running the Slack bot”)."
    )
