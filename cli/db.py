"""``tunebot db``: the bot database's schema (Alembic migrations shipped with tunebot).

Example::

    export DATABASE_URL=postgresql://tunebot@db/tunebot
    tunebot db upgrade      # safe to run from several replicas at once: it takes a lock
    tunebot db current      # exit 1 while an upgrade is due
    tunebot db revision "add team_id to vote"   # developers: after changing a table
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from core.config import load_settings
from core.errors import ConfigError

if TYPE_CHECKING:  # imported when a command runs: `tunebot validate` starts without them
    from sqlalchemy.engine import Engine

db_app = typer.Typer(help="The bot database's schema: check it, upgrade it.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``db`` to the ``tunebot`` command."""
    app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade_command() -> None:
    """Migrate DATABASE_URL to this tunebot's schema (creates it when empty)."""
    from core.store.schema import DATABASE

    with _database() as engine:
        before, after = DATABASE.upgrade(engine)
    if before == after:
        typer.echo(f"Database schema is current (revision {after}).")
    else:
        typer.echo(f"Database schema upgraded: {before or 'empty'} -> {after}.")


@db_app.command("current")
def current_command() -> None:
    """Print the database's revision; exit 1 when `tunebot db upgrade` is due."""
    from core.store.schema import DATABASE, SchemaState

    with _database() as engine:
        state = DATABASE.state(engine)
        current = DATABASE.current(engine)
    typer.echo(f"revision {current or 'none'} ({state.value}); this tunebot: {DATABASE.head()}")
    if state is not SchemaState.CURRENT:
        raise typer.Exit(1)


@db_app.command("revision")
def revision_command(
    message: Annotated[str, typer.Argument(help="What it changes, e.g. 'add team_id to vote'.")],
    worker: Annotated[bool, typer.Option("--worker", help="The worker's store instead.")] = False,
) -> None:
    """For developers: write the next migration script after a table changed."""
    from core.store.schema import DATABASE, new_revision
    from worker.store import WORKER_SCHEMA

    path = new_revision(WORKER_SCHEMA if worker else DATABASE, message)
    typer.echo(f"Wrote {path}: read it, adjust it, and add it to the commit.")


@contextmanager
def _database() -> Iterator[Engine]:
    """The engine for DATABASE_URL; every failure becomes one line and exit status 2."""
    from sqlalchemy.exc import SQLAlchemyError

    from core.store.engine import create_db_engine

    engine: Engine | None = None
    try:
        engine = create_db_engine(load_settings().database_url)
        yield engine
    except ConfigError as exc:
        typer.echo(f"Error: {exc.user_message()}", err=True)
        raise typer.Exit(2) from exc
    except ModuleNotFoundError as exc:
        typer.echo(
            f"Error: DATABASE_URL needs the {exc.name} driver. "
            "For PostgreSQL: pip install 'tunebot[postgres]'.",
            err=True,
        )
        raise typer.Exit(2) from exc
    except SQLAlchemyError as exc:
        # The driver's own first line says why (refused, bad password, no such
        # database); SQLAlchemy's full text would add the SQL and a docs link.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        typer.echo(f"Error: cannot use the database at DATABASE_URL: {reason}", err=True)
        raise typer.Exit(2) from exc
    finally:
        if engine is not None:
            engine.dispose()
