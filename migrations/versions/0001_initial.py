"""Initial schema: model catalog, providers, usage history and its hourly roll-ups, audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model",
        sa.Column("model_id", sa.String(200), primary_key=True),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("family", sa.String(), nullable=False, server_default=""),
        sa.Column("version", sa.String(), nullable=False, server_default=""),
        sa.Column("status", sa.String(), nullable=False, server_default="stable"),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("max_context_tokens", sa.Integer()),
        sa.Column("max_output_tokens", sa.Integer()),
        sa.Column("input_cost_per_1k", sa.Float()),
        sa.Column("output_cost_per_1k", sa.Float()),
        sa.Column("currency", sa.String(), nullable=False, server_default="USD"),
        sa.Column("avg_ttft_ms", sa.Float()),
        sa.Column("avg_completion_ms", sa.Float()),
        sa.Column("success_rate", sa.Float()),
        sa.Column("quality_score", sa.Float()),
        sa.Column("is_refiner", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("source", sa.String(), nullable=False, server_default="config"),
        sa.Column("deprecation_date", sa.Date()),
        sa.Column("successor", sa.String()),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cooldown_until", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_model_provider", "model", ["provider"])
    op.create_index("ix_model_status", "model", ["status"])
    op.create_table(
        "provider",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("base_url", sa.String()),
        sa.Column("api_key_env", sa.String()),
        sa.Column("health", sa.String(), nullable=False, server_default="unknown"),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cooldown_until", sa.DateTime()),
        sa.Column("last_check", sa.DateTime()),
    )
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("segment", sa.String()),
        sa.Column("arm", sa.String(), nullable=False, server_default="control"),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("ttft_ms", sa.Float()),
        sa.Column("tokens_in", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("tokens_out", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cost_usd", sa.Float()),
        sa.Column("success", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("error_kind", sa.String()),
        sa.Column("quality", sa.Float()),
        sa.Column("request_id", sa.String(200)),
        sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"),
        sa.UniqueConstraint("request_id", "attempt", name="uq_usage_request_attempt"),
    )
    op.create_index("ix_usage_model_ts", "usage", ["model_id", "ts"])
    op.create_index("ix_usage_ts", "usage", ["ts"])
    op.create_table(
        "usage_rollup",
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("segment", sa.String(), nullable=False),
        sa.Column("arm", sa.String(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("tokens_in", sa.BigInteger(), nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("latency_sum_ms", sa.Float(), nullable=False),
        sa.Column("quality_sum", sa.Float(), nullable=False),
        sa.Column("quality_n", sa.Integer(), nullable=False),
        sa.Column("latency_hist", sa.Text(), nullable=False),
        sa.Column("ttft_hist", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "model_id", "provider", "segment", "arm"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("before", sa.Text()),
        sa.Column("after", sa.Text()),
    )
    op.create_index("ix_audit_ts", "audit", ["ts"])


def downgrade() -> None:
    for table in ("audit", "usage_rollup", "usage", "provider", "model"):
        op.drop_table(table)
