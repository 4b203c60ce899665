"""Run the alembic migrations shipped in the package, from code; a new database is seeded by the caller's `seed`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from modelctl.paths import migrations_dir
from modelctl.store.db import Store, schema_history

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["connection"] = connection
    return config


def alembic_head() -> str | None:
    """The newest shipped migration, as alembic finds it (None if none shipped)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(migrations_dir())).get_current_head()


def upgrade(store: Store, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate to `revision`; returns (before, after)."""
    from alembic import command

    before = store.schema_version()
    with store.engine.connect() as conn:
        command.upgrade(_alembic_config(conn), revision)
        conn.commit()
    return before, store.schema_version()


def upgrade_to_head(store: Store, *, seed: Callable[[Connection], object] | None = None) -> None:
    """Bring the schema to head; a database that had no schema is then given to `seed(conn)`.

    A new database gets its schema and its seed in one transaction: a process that opens it
    meanwhile and finds the schema current does not wait for the lock, so it must not find the
    catalog empty.
    """
    before = store.schema_version()  # again, under the migration lock: another process may have won
    if before == schema_history()[-1]:
        return
    if before is not None:
        upgrade(store)
        return
    from alembic import command

    with store.write() as conn:  # alembic runs its steps inside this transaction, not its own
        command.upgrade(_alembic_config(conn), "head")
        if seed is not None:
            seed(conn)
