"""Alembic migrations of the worker store (package data: shipped with tunebot)."""
