"""Rollouts: candidate vs incumbent journeys, their gate results, and the lease `upgrade tick` takes.

Revision ID: 0004
Revises: 0003
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollout",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("candidate_id", sa.String(200), nullable=False),
        sa.Column("incumbent_id", sa.String(200), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("phase", sa.String(), nullable=False),
        sa.Column("traffic_pct", sa.Float(), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("phase_started_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime()),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_rollout_phase", "rollout", ["phase"])
    op.create_index("ix_rollout_candidate", "rollout", ["candidate_id"])
    op.create_table(
        "gate_result",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rollout_id", sa.Integer(), sa.ForeignKey("rollout.id"), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("phase", sa.String(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("window_end", sa.DateTime(), nullable=False),
        sa.Column("gate", sa.String(), nullable=False),
        sa.Column("verdict", sa.String(), nullable=False),
        sa.Column("n_control", sa.Integer(), nullable=False),
        sa.Column("n_candidate", sa.Integer(), nullable=False),
        sa.Column("p_value", sa.Float()),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
    )
    op.create_index("ix_gate_result_rollout_ts", "gate_result", ["rollout_id", "ts"])
    lease = op.create_table(
        "lease",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String()),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.bulk_insert(lease, [{"name": "upgrade-tick", "holder": None, "expires_at": datetime(1970, 1, 1)}])


def downgrade() -> None:
    op.drop_table("lease")
    op.drop_table("gate_result")
    op.drop_table("rollout")
