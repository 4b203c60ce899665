"""Client keys for the HTTP API (only their hashes), and the key behind each usage row.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_key",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("budget_usd", sa.Float()),
        sa.Column("rate_limit", sa.Float()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime()),
    )
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("client_key", sa.String(100)))
    op.create_index("ix_usage_client_key_ts", "usage", ["client_key", "ts"])


def downgrade() -> None:
    op.drop_index("ix_usage_client_key_ts", table_name="usage")
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("client_key")
    op.drop_table("client_key")
