"""Evaluation scores: scored outcomes per model and segment, imported or from `modelctl evaluate`.

An imported score carries a `record_key`, unique in the table, so importing the same records
again adds nothing; scores from `modelctl evaluate` have none (each run is new evidence).

`score_totals` is read by every `route` (learned quality), so this module imports no SQLAlchemy
at load time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from modelctl.store.db import Store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

SCORE_COLUMNS = ("ts", "model_id", "segment", "score", "cost_usd", "latency_ms", "source", "record_key")
BATCH_ROWS = 10_000


def record_content(model_id: str, segment: str, score: float, cost_usd: float | None,
                   latency_ms: float | None) -> bytes:
    """A score's field values as canonical bytes: equal for equal values (numbers as floats)."""
    return orjson.dumps([model_id, segment, score, cost_usd, latency_ms])


def content_key(content: bytes, occurrence: int) -> str:
    """The record key of a record without an id: a digest of its `record_content` and which of
    the identical records in its input it is (1, 2, ...)."""
    return "sha256:" + hashlib.sha256(content + b"#%d" % occurrence).hexdigest()


def explicit_key(record_id: str) -> str:
    """The record key of a record that names its own id."""
    return f"id:{record_id}"


def insert_scores(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert score rows (dicts keyed by SCORE_COLUMNS, `ts` as sql_ts text, `record_key` optional)
    in the caller's transaction; a row whose record_key is already stored is skipped. Returns how
    many rows went in."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    insert = (f"INSERT INTO evaluation_score ({', '.join(SCORE_COLUMNS)}) "
              f"VALUES ({', '.join(mark for _ in SCORE_COLUMNS)}) ON CONFLICT DO NOTHING")
    inserted = 0
    for start in range(0, len(rows), BATCH_ROWS):
        batch = [tuple(row.get(column) for column in SCORE_COLUMNS) for row in rows[start:start + BATCH_ROWS]]
        inserted += conn.exec_driver_sql(insert, batch).rowcount
    return inserted


def score_totals(store: Store) -> list[tuple[str, str, float, float, int, float | None]]:
    """(segment, model_id, sum of scores, sum of squared scores, count, mean cost_usd) per segment and
    model, in that order: what a quality estimate is computed from."""
    return store.read(
        "SELECT segment, model_id, SUM(score), SUM(score * score), COUNT(*), AVG(cost_usd) "
        "FROM evaluation_score GROUP BY segment, model_id ORDER BY segment, model_id"
    )
