"""Alembic environment, driven from modelctl.store.migrate with a live connection.

Each revision runs in its own transaction (sqlite-utils style), with batch mode for SQLite's
limited ALTER TABLE.
"""

from alembic import context

from modelctl.store.tables import SQLModel

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
