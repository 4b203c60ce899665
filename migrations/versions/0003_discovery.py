"""Model discovery: one discovery_run row per provider per run, and where/when a model was found.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "discovery_run",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("found", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("new", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text()),
        sa.Column("duration_ms", sa.Float()),
    )
    op.create_index("ix_discovery_run_ts", "discovery_run", ["ts"])
    op.add_column("model", sa.Column("found_at", sa.DateTime()))
    op.add_column("model", sa.Column("stability", sa.String()))
    op.add_column("model", sa.Column("discovered_from", sa.String()))


def downgrade() -> None:
    with op.batch_alter_table("model") as batch:
        batch.drop_column("discovered_from")
        batch.drop_column("stability")
        batch.drop_column("found_at")
    op.drop_table("discovery_run")
