"""A record key per imported evaluation score, unique, so `eval import` of the same file again adds nothing.

Scores imported before get the key an import computes now (content and occurrence, counted over
all of them in the order they went in): importing a file imported before adds nothing either.
Scores from `modelctl evaluate` keep none.

Revision ID: 0009
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BATCH_ROWS = 10_000


def upgrade() -> None:
    with op.batch_alter_table("evaluation_score") as batch:
        batch.add_column(sa.Column("record_key", sa.String(210)))
    _backfill(op.get_bind())
    op.create_index("uq_evaluation_score_record_key", "evaluation_score", ["record_key"], unique=True)


def _backfill(conn) -> None:  # noqa: ANN001
    from modelctl.store.scores import content_key, record_content

    occurrences: dict[bytes, int] = {}
    update = sa.text("UPDATE evaluation_score SET record_key = :key WHERE id = :id")
    rows = conn.execute(sa.text(
        "SELECT id, model_id, segment, score, cost_usd, latency_ms FROM evaluation_score "
        "WHERE source = 'import' ORDER BY id")).fetchall()
    keys = []
    for row_id, *values in rows:
        content = record_content(*values)
        occurrences[content] = occurrences.get(content, 0) + 1
        keys.append({"id": row_id, "key": content_key(content, occurrences[content])})
    for start in range(0, len(keys), _BATCH_ROWS):
        conn.execute(update, keys[start:start + _BATCH_ROWS])


def downgrade() -> None:
    op.drop_index("uq_evaluation_score_record_key", "evaluation_score")
    with op.batch_alter_table("evaluation_score") as batch:
        batch.drop_column("record_key")
