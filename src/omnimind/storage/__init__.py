"""Storage: database engines (SQLite/PostgreSQL), schema and migrations, the lab directory layout."""

from omnimind.storage.db import create_engine, is_sqlite, normalise_url, sqlite_url
from omnimind.storage.migrate import current_revision, head_revision, upgrade
from omnimind.storage.schema import metadata

__all__ = [
    "create_engine",
    "current_revision",
    "head_revision",
    "is_sqlite",
    "metadata",
    "normalise_url",
    "sqlite_url",
    "upgrade",
]
