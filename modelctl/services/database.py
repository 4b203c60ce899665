"""Opening the database for the commands and the API: created, migrated and seeded on first use.

The store creates and migrates; what a new database holds (the bundled catalog and providers) is
this layer's to say, so it hands the store the seed. Opening a current database imports neither
SQLAlchemy nor the catalog loader: `modelctl route` goes through here.
"""

from __future__ import annotations

from typing import Any

from modelctl.store.db import Store, open_store, schema_history

__all__ = ["Store", "latest_schema", "open_database"]


def open_database(url: str | None = None, *, migrate: bool = True, create_parents: bool = False) -> Store:
    """The database at `url` (or the configured one); `migrate=False` only checks the schema;
    `create_parents` lets a new SQLite file's directory be created (`modelctl init`)."""
    return open_store(url, migrate=migrate, create_parents=create_parents, seed=_seed_new_database)


def _seed_new_database(conn: Any) -> None:
    from modelctl.services.catalog import seed_into

    seed_into(conn, action="init")


def latest_schema() -> str:
    """The schema revision this modelctl migrates to."""
    return schema_history()[-1]
