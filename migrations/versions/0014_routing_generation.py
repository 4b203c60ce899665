"""A counter the database itself moves whenever something routing reads changes: the catalog, a
model's or provider's cooldown, a quality score, a rollout, a refinement order. A server deciding
many queries re-reads its routing state only when the counter moved, not on every usage row it
writes; triggers keep it, so no writer can forget to. The provider row's last_check changes with
every successful call and routing never reads it, so only a changed cooldown moves the counter.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# table -> the condition on an UPDATE that matters to routing (None: every change does)
WATCHED = {
    "model": None,
    "provider": "OLD.cooldown_until IS DISTINCT FROM NEW.cooldown_until",
    "evaluation_score": None,
    "rollout": None,
    "refinement_order": None,
}
EVENTS = ("INSERT", "UPDATE", "DELETE")
BUMP = "UPDATE routing_generation SET n = n + 1 WHERE id = 1"


def upgrade() -> None:
    table = op.create_table(
        "routing_generation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "n": 0}])
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute(f"CREATE FUNCTION bump_routing_generation() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN {BUMP}; RETURN NULL; END $$")
    for name, condition in WATCHED.items():
        for event in EVENTS:
            trigger = f"CREATE TRIGGER {name}_{event.lower()}_routing AFTER {event} ON {name} FOR EACH ROW"
            if condition and event == "UPDATE":
                trigger += f" WHEN ({condition.replace('IS DISTINCT FROM', 'IS NOT') if sqlite else condition})"
            action = f"BEGIN {BUMP}; END" if sqlite else "EXECUTE FUNCTION bump_routing_generation()"
            op.execute(f"{trigger} {action}")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in WATCHED:
        for event in EVENTS:
            op.execute(f"DROP TRIGGER {name}_{event.lower()}_routing" + ("" if sqlite else f" ON {name}"))
    if not sqlite:
        op.execute("DROP FUNCTION bump_routing_generation()")
    op.drop_table("routing_generation")
