"""Alembic migrations of the bot database (package data: shipped with tunebot)."""
