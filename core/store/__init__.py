"""SQL storage: the database is the source of truth (DESIGN.md).

The only package that speaks SQL (``tests/test_layering.py`` checks it). One
module per domain holds its SQLModel tables and the functions that read and
write them (``datasets``, ``jobs``, ``progress``: polling state and thread
messages; ``evaluation``: A/B and held-out tables, queried in ``ab`` and
``heldout``); ``engine`` builds the engine and creates the tables, with the
SQLite setup the worker shares (``sqlite``); ``init_db`` imports every table
module, registering its tables on ``SQLModel.metadata``.
"""

from core.store.engine import create_db_engine, init_db, session_scope

__all__ = ["create_db_engine", "init_db", "session_scope"]
