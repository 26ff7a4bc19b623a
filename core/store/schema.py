"""Schema versions: Alembic migrations for the bot's database and the worker's store.

Why Alembic and not ``create_all``: ``create_all`` never changes a table that
exists, so the first column change would strand every install. Each database
carries its revision in ``alembic_version``; the scripts ship inside the
package (``core/store/migrations``, ``worker/migrations``) so an installed
tunebot finds them.

Why a lock: replicas that start together would otherwise run the same
``CREATE TABLE`` twice. The upgrade holds a PostgreSQL advisory lock, or on
SQLite a file lock beside the database file, and re-reads the revision once it
holds it.

Why an empty database is created and an old one refused: a new install needs
no extra step, but changing the tables of a database that holds data is an
operator's decision (back up first), so :meth:`Schema.require_current` names
the command that does it instead of doing it.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from core.errors import ConfigError

VERSION_TABLE = "alembic_version"


class SchemaOutOfDate(ConfigError):
    """The database's tables are not the ones this tunebot expects."""


class SchemaState(enum.Enum):
    EMPTY = "empty"
    """None of the schema's tables and no revision: a new install."""
    UNVERSIONED = "unversioned"
    """Tables made by ``create_all`` before migrations existed."""
    BEHIND = "behind"
    CURRENT = "current"
    UNKNOWN = "unknown"
    """A revision these scripts do not know: a newer tunebot migrated it."""


@dataclass(frozen=True)
class Schema:
    """One migrated database: its scripts, its tables and the command that upgrades it.

    Parameters:
        name: what people call it in messages ("database", "worker store").
        script_location: Alembic's ``package:folder`` form, found inside the
            installed package.
        metadata: builds the tables the models declare (for autogenerate).
        upgrade_command: the command that upgrades it, named in refusals.
    """

    name: str
    script_location: str
    metadata: Callable[[], MetaData]
    upgrade_command: str

    def config(self, connection: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", self.script_location)
        config.attributes["connection"] = connection
        config.attributes["schema"] = self
        return config

    def head(self) -> str:
        head = ScriptDirectory.from_config(self.config()).get_current_head()
        if head is None:  # a packaging error, not something a user did
            raise RuntimeError(f"no migration scripts found at {self.script_location}")
        return head

    def current(self, engine: Engine) -> str | None:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def state(self, engine: Engine) -> SchemaState:
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
            if revision is None:
                tables = set(inspect(connection).get_table_names())
                ours = set(self.metadata().tables)
                return SchemaState.UNVERSIONED if tables & ours else SchemaState.EMPTY
        if revision == self.head():
            return SchemaState.CURRENT
        known = {
            script.revision
            for script in ScriptDirectory.from_config(self.config()).walk_revisions()
        }
        return SchemaState.BEHIND if revision in known else SchemaState.UNKNOWN

    def upgrade(self, engine: Engine) -> tuple[str | None, str]:
        """Migrate to the newest revision under the lock; returns (before, after).

        A database made by ``create_all`` before migrations existed is adopted:
        the first revision creates only the tables it lacks.

        Raises:
            SchemaOutOfDate: the database is at a revision this tunebot does not know.
        """
        with migration_lock(engine, name=self.name):
            before = self.current(engine)
            if self.state(engine) is SchemaState.UNKNOWN:
                raise self._too_new(before)
            with engine.begin() as connection:
                command.upgrade(self.config(connection), "head")
            return before, self.head()

    def require_current(self, engine: Engine) -> None:
        """Return when the tables match the models; create them in an empty database.

        Raises:
            SchemaOutOfDate: the database is older (names the upgrade command)
                or newer than this tunebot.
        """
        state = self.state(engine)
        if state is SchemaState.CURRENT:
            return
        if state is SchemaState.EMPTY:
            self.upgrade(engine)
            return
        current = self.current(engine)
        if state is SchemaState.UNKNOWN:
            raise self._too_new(current)
        raise SchemaOutOfDate(
            f"The {self.name}'s schema is out of date "
            f"(revision {current or 'none, made before migrations'}; this tunebot needs "
            f"{self.head()}).",
            hint=f"Back it up, then run `{self.upgrade_command}`.",
        )

    def differences(self, engine: Engine) -> list[Any]:
        """What autogenerate would change to make the tables match the models (tests)."""
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=_compare_options(connection))
            return list(compare_metadata(context, self.metadata()))

    def _too_new(self, revision: str | None) -> SchemaOutOfDate:
        return SchemaOutOfDate(
            f"The {self.name} is at revision {revision}, which this tunebot does not know: "
            "a newer tunebot has upgraded it.",
            hint="Run the same tunebot version as the rest of the deployment.",
        )


def tables_of(modules: Sequence[ModuleType]) -> MetaData:
    """A metadata holding only the tables defined in ``modules``.

    Why not ``SQLModel.metadata``: it is shared by every model imported in the
    process (the bot's and the worker's), and each database holds one set.
    """
    metadata = MetaData()
    names = {module.__name__ for module in modules}
    for cls in _table_classes(SQLModel):
        if cls.__module__ in names:
            cls.__table__.to_metadata(metadata)  # type: ignore[attr-defined]  # table classes have it
    return metadata


def _table_classes(base: type) -> Iterator[type]:
    subclasses: list[type] = base.__subclasses__()
    for cls in subclasses:
        if "__table__" in cls.__dict__:
            yield cls
        yield from _table_classes(cls)


def _compare_options(connection: Connection) -> dict[str, Any]:
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    return {"compare_type": True, "render_as_batch": connection.dialect.name == "sqlite"}


def run_migrations(context: Any) -> None:
    """The body of every ``env.py``: run on the connection the caller passed."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("tunebot migrations run through `tunebot db upgrade`, not `alembic`")
    schema: Schema = config.attributes["schema"]
    context.configure(
        connection=connection,
        target_metadata=schema.metadata(),
        **_compare_options(connection),
    )
    with context.begin_transaction():
        context.run_migrations()


@contextmanager
def migration_lock(engine: Engine, *, name: str) -> Iterator[None]:
    """Hold the one lock that serialises upgrades of this database.

    PostgreSQL: a session advisory lock (released if the process dies). SQLite:
    a lock file beside the database file; an in-memory database has one user.
    """
    if engine.dialect.name == "postgresql":
        key = int.from_bytes(
            hashlib.sha256(f"tunebot:{name}".encode()).digest()[:8], "big", signed=True
        )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        return
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        with FileLock(str(Path(database).with_name(Path(database).name + ".migrate.lock"))):
            yield
        return
    yield


def _bot_tables() -> MetaData:
    from core.store.engine import bot_tables  # engine imports this module's users

    return bot_tables()


DATABASE = Schema(
    name="database",
    script_location="core.store:migrations",
    metadata=_bot_tables,
    upgrade_command="tunebot db upgrade",
)
"""The bot's database (``DATABASE_URL``)."""


def require_current_database(url: str) -> None:
    """Refuse to serve on an out-of-date database; ``tunebot serve`` calls this first.

    Raises:
        SchemaOutOfDate: see :meth:`Schema.require_current`.
    """
    from core.store.engine import create_db_engine

    engine = create_db_engine(url)
    try:
        DATABASE.require_current(engine)
    finally:
        engine.dispose()


def new_revision(schema: Schema, message: str) -> Path:
    """Write the next migration script: what autogenerate finds between the
    migrations and the models, on a scratch SQLite database.

    Run it after changing a table (``tunebot db revision "add x to y"``,
    ``--worker`` for the worker's store), then read and adjust the script.
    """
    import tempfile

    from sqlalchemy import create_engine

    head = schema.head()
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/scratch.db")
        schema.upgrade(engine)
        with engine.begin() as connection:
            script = command.revision(
                schema.config(connection),
                message=message,
                autogenerate=True,
                rev_id=f"{int(head) + 1:04d}",
            )
        engine.dispose()
    assert script is not None and not isinstance(script, list)  # one head, one script
    return Path(script.path)
