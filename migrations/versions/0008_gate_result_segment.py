"""Gate results per segment: a rollout's segments are judged apart, one row per segment and gate.

Rows from before this migration judged the segments pooled; their segment stays NULL.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gate_result") as batch:
        batch.add_column(sa.Column("segment", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gate_result") as batch:
        batch.drop_column("segment")
