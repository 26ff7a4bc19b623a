"""Alembic's entry point; the work is in core.store.schema.run_migrations."""

from alembic import context

from core.store.schema import run_migrations

run_migrations(context)
