"""Scored outcomes from evaluations and imports, the evidence for learned routing quality.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation_score",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("segment", sa.String(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("cost_usd", sa.Float()),
        sa.Column("latency_ms", sa.Float()),
        sa.Column("source", sa.String(), nullable=False, server_default="import"),
    )
    op.create_index("ix_evaluation_score_segment_model", "evaluation_score", ["segment", "model_id"])


def downgrade() -> None:
    op.drop_table("evaluation_score")
