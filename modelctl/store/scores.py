"""Evaluation scores: scored outcomes per model and segment, imported or from `modelctl evaluate`.

`score_totals` is read by every `route` (learned quality), so this module imports no SQLAlchemy
at load time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelctl.store.db import Store

SCORE_COLUMNS = ("ts", "model_id", "segment", "score", "cost_usd", "latency_ms", "source")
BATCH_ROWS = 10_000


def insert_scores(conn, rows: Sequence[Mapping[str, Any]]) -> None:  # noqa: ANN001
    """Insert score rows (dicts keyed by SCORE_COLUMNS, `ts` as sql_ts text) in the caller's transaction."""
    from sqlalchemy import text

    insert = text(
        f"INSERT INTO evaluation_score ({', '.join(SCORE_COLUMNS)}) "
        f"VALUES ({', '.join(':' + c for c in SCORE_COLUMNS)})"
    )
    for start in range(0, len(rows), BATCH_ROWS):
        conn.execute(insert, list(rows[start:start + BATCH_ROWS]))


def score_totals(store: Store) -> list[tuple[str, str, float, float, int, float | None]]:
    """(segment, model_id, sum of scores, sum of squared scores, count, mean cost_usd) per segment and
    model, in that order: what a quality estimate is computed from."""
    return store.read(
        "SELECT segment, model_id, SUM(score), SUM(score * score), COUNT(*), AVG(cost_usd) "
        "FROM evaluation_score GROUP BY segment, model_id ORDER BY segment, model_id"
    )
