"""Judge verdicts on shadow pairs (no prompt or answer text) and offline evaluations' verdicts.

Revision ID: 0010
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "judge_verdict",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rollout_id", sa.Integer(), sa.ForeignKey("rollout.id"), nullable=False),
        sa.Column("candidate_id", sa.String(200), nullable=False),
        sa.Column("incumbent_id", sa.String(200), nullable=False),
        sa.Column("segment", sa.String(), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(), nullable=False),
        sa.Column("judge_model", sa.String(200), nullable=False),
        sa.Column("cost_usd", sa.Float()),
        sa.Column("ts", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_judge_verdict_rollout_ts", "judge_verdict", ["rollout_id", "ts"])
    op.create_table(
        "offline_evaluation",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("candidate_id", sa.String(200), nullable=False),
        sa.Column("incumbents", sa.JSON(), nullable=False),
        sa.Column("suite", sa.String(), nullable=False),
        sa.Column("judge_model", sa.String()),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("mean_difference", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float()),
        sa.Column("verdict", sa.String(), nullable=False),
    )
    op.create_index("ix_offline_evaluation_candidate_ts", "offline_evaluation", ["candidate_id", "ts"])


def downgrade() -> None:
    op.drop_index("ix_offline_evaluation_candidate_ts", table_name="offline_evaluation")
    op.drop_table("offline_evaluation")
    op.drop_index("ix_judge_verdict_rollout_ts", table_name="judge_verdict")
    op.drop_table("judge_verdict")
