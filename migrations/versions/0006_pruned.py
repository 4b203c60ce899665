"""Usage pruned per day, so `db check` can account roll-ups for raw rows that `usage prune` removed.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_pruned",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("pruned_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage_pruned")
