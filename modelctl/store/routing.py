"""What routing reads besides the catalog, on every `route`: measured latency and the refiner order
`modelctl refiners sweep` stored (with the sweep's own reads and writes). Reads go through
`Store.read` (sqlite3 on SQLite), so this module imports no SQLAlchemy at load time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from modelctl.store.db import Store, sql_ts

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def mean_latencies(store: Store, *, since: datetime, min_calls: int) -> dict[str, float]:
    """model_id -> mean latency (ms) of its control-arm calls in the hourly roll-ups since `since`,
    for the models with at least `min_calls` of them measured (a call that reached no server is
    none)."""
    rows = store.read(
        "SELECT model_id, SUM(latency_sum_ms) / SUM(latency_n) FROM usage_rollup "
        "WHERE hour >= :since AND arm = 'control' GROUP BY model_id HAVING SUM(latency_n) >= :n",
        {"since": sql_ts(since), "n": min_calls},
    )
    return {model_id: float(mean) for model_id, mean in rows}


def hourly_latencies(store: Store, model_ids: Iterable[str], *, since: datetime) -> list[tuple[str, int, str]]:
    """(model_id, calls, latency_hist) of every hourly roll-up row of `model_ids` since `since`,
    every arm and segment."""
    wanted = list(model_ids)
    if not wanted:
        return []
    marks = ", ".join(f":m{i}" for i in range(len(wanted)))
    return store.read(
        f"SELECT model_id, calls, latency_hist FROM usage_rollup WHERE hour >= :since AND model_id IN ({marks})",
        {**{f"m{i}": m for i, m in enumerate(wanted)}, "since": sql_ts(since)},
    )


def routing_generation(store: Store) -> int:
    """The counter the database moves whenever something routing reads changes (migration 0014's
    triggers): equal counters, the same routing inputs, whatever was written meanwhile."""
    return store.read("SELECT n FROM routing_generation WHERE id = 1")[0][0]


def refinement_orders(store: Store) -> dict[str, list[str]]:
    """Refinement chain name -> the member order last stored by a sweep."""
    return {name: json.loads(chain) if isinstance(chain, str) else chain
            for name, chain in store.read("SELECT name, chain FROM refinement_order")}


def save_refinement_orders(conn: Connection, orders: Mapping[str, Sequence[str]], *, now: datetime) -> None:
    """Store each chain's new order (replacing the one before) in the caller's transaction."""
    from sqlalchemy import text

    upsert = text(
        "INSERT INTO refinement_order (name, chain, updated_at) VALUES (:name, :chain, :now) "
        "ON CONFLICT (name) DO UPDATE SET chain = excluded.chain, updated_at = excluded.updated_at"
    )
    for name, chain in orders.items():
        conn.execute(upsert, {"name": name, "chain": json.dumps(list(chain)), "now": sql_ts(now)})
