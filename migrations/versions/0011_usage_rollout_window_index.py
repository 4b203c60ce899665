"""A covering index for the rollout gates' reads of usage: `upgrade tick` reads each arm's window
(model, arm, segment, time) for counts, costs, qualities and latency buckets. With it the tick
reads the index alone; without it, every row in the window is a lookup in the table
(tests/benchmarks/bench_tick.py: 10 rollouts over 1M rows, 1.3-2.8 s before, 0.3 s after).

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = ["model_id", "arm", "segment", "ts", "success", "latency_ms", "cost_usd", "quality"]


def upgrade() -> None:
    op.create_index("ix_usage_rollout_window", "usage", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_usage_rollout_window", table_name="usage")
