"""Discovery bookkeeping: the discovery_run rows and where/when each discovered model was found."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelctl.core.catalog import ModelSpec
from modelctl.store.catalog import as_datetime
from modelctl.store.db import Store, sql_ts

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def insert_run(conn: Connection, *, provider: str, found: int, new: int, updated: int, error: str | None,
               duration_ms: float | None, now: datetime) -> None:
    from sqlalchemy import text

    conn.execute(
        text("INSERT INTO discovery_run (ts, provider, found, new, updated, error, duration_ms) "
             "VALUES (:ts, :provider, :found, :new, :updated, :error, :duration_ms)"),
        {"ts": sql_ts(now), "provider": provider, "found": found, "new": new, "updated": updated,
         "error": error, "duration_ms": duration_ms},
    )


def insert_found(conn: Connection, found: list[tuple[ModelSpec, str, str]], *, now: datetime) -> None:
    """Insert models new to the catalog with when, from which listing (`discovered_from`) and with
    which stability they were found: (spec, stability, discovered_from) each.

    One executemany: a first discovery can bring thousands of models at once.
    """
    from sqlalchemy import text

    if not found:
        return
    ts = sql_ts(now)
    rows = []
    for spec, stability, discovered_from in found:
        row = asdict(spec)
        row["capabilities"] = json.dumps(sorted(spec.capabilities))
        row["deprecation_date"] = spec.deprecation_date.isoformat() if spec.deprecation_date else None
        row.update(created_at=ts, updated_at=ts, found_at=ts, stability=stability,
                   discovered_from=discovered_from)
        rows.append(row)
    columns = list(rows[0])
    conn.execute(
        text(f"INSERT INTO model ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"),
        rows,
    )


def list_candidates(store: Store, *, provider: str | None = None) -> list[dict[str, Any]]:
    """Models waiting for a rollout, newest finds first."""
    rows = store.read(
        "SELECT model_id, provider, found_at, stability, discovered_from, input_cost_per_1k, "
        "output_cost_per_1k, max_context_tokens, source FROM model "
        "WHERE status = 'candidate' AND (CAST(:provider AS TEXT) IS NULL OR provider = :provider) "
        "ORDER BY found_at DESC, provider, model_id",
        {"provider": provider},
    )
    return [
        {
            "model_id": model_id,
            "provider": prov,
            "found_at": str(as_datetime(found_at)) if found_at is not None else None,
            "stability": stability,
            "discovered_from": discovered_from,
            "priced": input_cost is not None and output_cost is not None,
            "input_cost_per_1k": input_cost,
            "output_cost_per_1k": output_cost,
            "max_context_tokens": context,
            "source": source,
        }
        for model_id, prov, found_at, stability, discovered_from, input_cost, output_cost, context, source
        in rows
    ]

