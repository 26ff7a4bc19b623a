"""SQL storage: the database is the source of truth (DESIGN.md).

One module per domain holds its SQLModel tables and the keyword-only functions
that read and write them (``datasets``, ``jobs``, ``evaluation``);
``engine`` builds the engine and creates the tables. Importing this package
registers every table on ``SQLModel.metadata``.
"""

from core.store.engine import create_db_engine, init_db, session_scope

__all__ = ["create_db_engine", "init_db", "session_scope"]
