"""A call that reached no server has no latency: usage.latency_ms may be NULL, and each roll-up
counts its latency samples (`latency_n`), which means divide by instead of by `calls`.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ROLLUPS = ("usage_rollup", "usage_rollup_daily")


def upgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.alter_column("latency_ms", existing_type=sa.Float(), nullable=True)
    for table in _ROLLUPS:
        op.add_column(table, sa.Column("latency_n", sa.Integer(), nullable=False, server_default="0"))
        op.execute(f"UPDATE {table} SET latency_n = calls")  # every call had a latency until now


def downgrade() -> None:
    for table in _ROLLUPS:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("latency_n")
    # the old schema's roll-ups summed such a call's latency as 0: the row says the same
    op.execute("UPDATE usage SET latency_ms = 0 WHERE latency_ms IS NULL")
    with op.batch_alter_table("usage") as batch:
        batch.alter_column("latency_ms", existing_type=sa.Float(), nullable=False)
