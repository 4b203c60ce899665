"""Refinement order: each refinement chain as `modelctl refiners sweep` reordered it by measured latency.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refinement_order",
        sa.Column("name", sa.String(20), primary_key=True),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("refinement_order")
