"""Migrations: the scripts build exactly the tables the models declare, upgrades keep
every row, and replicas upgrading together do not race (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import shutil
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Column, MetaData, select
from sqlalchemy.engine import Connection, Engine

from core.store.engine import create_db_engine, init_db
from core.store.schema import DATABASE, Schema, SchemaOutOfDate, SchemaState, new_revision
from worker.store import WORKER_SCHEMA, store_engine

FIRST_REVISION = "0001"
ROOT = Path(__file__).resolve().parents[3]


def _sqlite(tmp_path: Path, name: str = "bot.db") -> Engine:
    return create_db_engine(f"sqlite:///{tmp_path / name}")


# --- autogenerate finds no difference --------------------------------------------


def test_bot_models_match_migrations_on_sqlite(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    assert DATABASE.state(engine) is SchemaState.EMPTY
    DATABASE.upgrade(engine)
    assert DATABASE.state(engine) is SchemaState.CURRENT
    assert DATABASE.differences(engine) == []


def test_worker_models_match_migrations(tmp_path: Path) -> None:
    engine = store_engine(tmp_path)
    WORKER_SCHEMA.upgrade(engine)
    assert WORKER_SCHEMA.differences(engine) == []


@pytest.mark.postgres
def test_bot_models_match_migrations_on_postgres(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url)
    DATABASE.upgrade(engine)
    assert DATABASE.differences(engine) == []
    engine.dispose()


def test_differences_are_found_when_a_model_changes(tmp_path: Path) -> None:
    """The check above can fail: a column the migrations lack shows up."""
    engine = _sqlite(tmp_path)
    DATABASE.upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE dataset DROP COLUMN file_name")
    kinds = [
        diff[0] if isinstance(diff, tuple) else diff[0][0] for diff in DATABASE.differences(engine)
    ]
    assert "add_column" in kinds


# --- upgrades keep every row ------------------------------------------------------


def _fill_every_table(connection: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """One row in every table as it is now (reflected), parents before children."""
    metadata = MetaData()
    metadata.reflect(connection)
    keys: dict[str, Any] = {}
    for table in metadata.sorted_tables:
        if table.name == "alembic_version":
            continue
        values = {}
        for column in table.columns:
            foreign = next(iter(column.foreign_keys), None)
            if foreign is not None:
                values[column.name] = keys[foreign.column.table.name]
            elif column.primary_key and column.type.python_type is int:
                continue  # the database assigns it
            elif not column.nullable or column.name.endswith("_json"):
                values[column.name] = _sample(column, table.name)
        result = connection.execute(table.insert().values(**values))
        keys[table.name] = result.inserted_primary_key[0]
    return _rows(connection)


def _sample(column: Column[Any], table: str) -> Any:
    length = getattr(column.type, "length", None) or 64
    samples: dict[type, Any] = {
        int: 7,
        float: 0.5,
        bool: True,
        str: f"{table}-{column.name}"[:length],
        datetime: datetime(2026, 11, 30, 12, 0, 0),
    }
    return samples[column.type.python_type]


def _rows(connection: Connection) -> dict[str, list[tuple[Any, ...]]]:
    metadata = MetaData()
    metadata.reflect(connection)
    return {
        name: [tuple(row) for row in connection.execute(select(table))]
        for name, table in metadata.tables.items()
        if name != "alembic_version"
    }


def _upgrade_from_first_revision_keeps_rows(schema: Schema, engine: Engine) -> None:
    with engine.begin() as connection:
        command.upgrade(schema.config(connection), FIRST_REVISION)
    with engine.begin() as connection:
        before = _fill_every_table(connection)
    assert before and all(len(rows) == 1 for rows in before.values())
    schema.upgrade(engine)
    assert schema.state(engine) is SchemaState.CURRENT
    with engine.connect() as connection:
        after = _rows(connection)
    for name, rows in before.items():
        if name in after:  # a later revision may drop a table on purpose
            assert len(after[name]) == len(rows), name
            assert [row[: len(rows[0])] for row in after[name]] == rows, name


def test_upgrade_from_first_revision_keeps_every_row_on_sqlite(tmp_path: Path) -> None:
    _upgrade_from_first_revision_keeps_rows(DATABASE, _sqlite(tmp_path))


def test_worker_upgrade_from_first_revision_keeps_every_row(tmp_path: Path) -> None:
    _upgrade_from_first_revision_keeps_rows(WORKER_SCHEMA, store_engine(tmp_path))


@pytest.mark.postgres
def test_upgrade_from_first_revision_keeps_every_row_on_postgres(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url)
    _upgrade_from_first_revision_keeps_rows(DATABASE, engine)
    engine.dispose()


def test_a_database_made_before_migrations_is_adopted_with_its_rows(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    init_db(engine)  # create_all, as every install before migrations
    with engine.begin() as connection:
        before = _fill_every_table(connection)
    assert DATABASE.state(engine) is SchemaState.UNVERSIONED
    DATABASE.upgrade(engine)
    assert DATABASE.state(engine) is SchemaState.CURRENT
    with engine.connect() as connection:
        assert _rows(connection) == before


# --- refusals ---------------------------------------------------------------------


def test_an_old_database_is_refused_with_the_command_that_fixes_it(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    init_db(engine)
    with pytest.raises(SchemaOutOfDate) as caught:
        DATABASE.require_current(engine)
    assert "`tunebot db upgrade`" in caught.value.user_message()


def test_an_empty_database_is_created_on_first_start(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    DATABASE.require_current(engine)
    assert DATABASE.state(engine) is SchemaState.CURRENT


def test_a_revision_from_a_newer_tunebot_is_refused(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    DATABASE.upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    for attempt in (DATABASE.require_current, DATABASE.upgrade):
        with pytest.raises(SchemaOutOfDate, match="does not know"):
            attempt(engine)


def test_an_old_worker_store_names_its_own_command(tmp_path: Path) -> None:
    engine = store_engine(tmp_path)
    with engine.begin() as connection:
        command.upgrade(WORKER_SCHEMA.config(connection), FIRST_REVISION)
        connection.exec_driver_sql("DELETE FROM alembic_version")
    with pytest.raises(SchemaOutOfDate) as caught:
        WORKER_SCHEMA.require_current(engine)
    assert "`tunebot worker --upgrade-db`" in caught.value.user_message()


# --- replicas starting together ---------------------------------------------------


def _upgrade_together(urls: list[str], schema: Schema = DATABASE) -> list[BaseException]:
    engines = [create_db_engine(url) for url in urls]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def replica(engine: Engine) -> None:
        barrier.wait()
        try:
            schema.upgrade(engine)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(e,), daemon=True) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "an upgrade hung"
    assert schema.state(engines[0]) is SchemaState.CURRENT
    for engine in engines:
        engine.dispose()
    return errors


def test_replicas_upgrading_one_sqlite_file_together_do_not_race(tmp_path: Path) -> None:
    assert _upgrade_together([f"sqlite:///{tmp_path / 'bot.db'}"] * 4) == []


@pytest.mark.postgres
def test_replicas_upgrading_postgres_together_do_not_race(postgres_url: str) -> None:
    assert _upgrade_together([postgres_url] * 4) == []


def test_tables_of_keeps_the_worker_out_of_the_bot_database() -> None:
    assert not any(name.startswith("worker_") for name in DATABASE.metadata().tables)
    assert set(WORKER_SCHEMA.metadata().tables) == {
        "worker_files",
        "worker_jobs",
        "worker_events",
        "worker_checkpoints",
    }


def test_new_revision_writes_the_next_script(tmp_path: Path) -> None:
    """On a scratch copy of the scripts: the models match, so the script changes nothing."""
    scripts = tmp_path / "migrations"
    shutil.copytree(ROOT / "core" / "store" / "migrations", scripts)
    schema = dataclasses.replace(DATABASE, script_location=str(scripts))
    head = int(DATABASE.head())
    path = new_revision(schema, "nothing changed")
    assert path.parent == scripts / "versions"
    text = path.read_text()
    assert f"revision: str = '{head + 1:04d}'" in text
    assert f"down_revision: str | None = '{head:04d}'" in text
    upgrade = text.split("def upgrade() -> None:")[1].split("def downgrade")[0]
    assert [line.strip() for line in upgrade.splitlines() if line.strip() and "#" not in line] == [
        "pass"
    ]
    assert schema.head() == f"{head + 1:04d}"
