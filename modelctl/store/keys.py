"""Client keys of the HTTP API (hashes only) and what each key has spent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelctl.clock import rfc3339
from modelctl.store.catalog import as_datetime
from modelctl.store.db import Store, sql_ts

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(frozen=True, slots=True)
class ClientKey:
    name: str
    budget_usd: float | None
    rate_limit: float | None
    created_at: datetime
    revoked_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "budget_usd": self.budget_usd, "rate_limit": self.rate_limit,
                "created_at": rfc3339(self.created_at),
                "revoked_at": self.revoked_at and rfc3339(self.revoked_at)}


_COLUMNS = "name, budget_usd, rate_limit, created_at, revoked_at"


def _key(row: tuple) -> ClientKey:
    name, budget, rate, created, revoked = row
    return ClientKey(name, budget, rate, as_datetime(created), revoked and as_datetime(revoked))


def add_key(conn: Connection, *, name: str, key_hash: str, budget_usd: float | None, rate_limit: float | None,
            now: datetime) -> bool:
    """False when the name is taken (revoked keys keep their name: usage rows name it)."""
    from sqlalchemy import text

    added = conn.execute(
        text("INSERT INTO client_key (name, key_hash, budget_usd, rate_limit, created_at) "
             "VALUES (:name, :hash, :budget, :rate, :now) ON CONFLICT DO NOTHING"),
        {"name": name, "hash": key_hash, "budget": budget_usd, "rate": rate_limit, "now": sql_ts(now)},
    )
    return added.rowcount == 1


def revoke_key(conn: Connection, *, name: str, now: datetime) -> bool:
    """False when no live key has that name."""
    from sqlalchemy import text

    done = conn.execute(text("UPDATE client_key SET revoked_at = :now WHERE name = :name AND revoked_at IS NULL"),
                        {"name": name, "now": sql_ts(now)})
    return done.rowcount == 1


def list_keys(store: Store) -> list[ClientKey]:
    return [_key(row) for row in store.read(f"SELECT {_COLUMNS} FROM client_key ORDER BY name")]


def live_key_by_hash(store: Store, key_hash: str) -> ClientKey | None:
    rows = store.read(f"SELECT {_COLUMNS} FROM client_key WHERE key_hash = :hash AND revoked_at IS NULL",
                      {"hash": key_hash})
    return _key(rows[0]) if rows else None


def spent_since(store: Store, name: str, since: datetime) -> float:
    """USD the key's usage rows cost from `since` on: read from the rows every process and host
    writes, so a budget holds across them (index usage(client_key, ts))."""
    rows = store.read("SELECT COALESCE(SUM(cost_usd), 0) FROM usage WHERE client_key = :name AND ts >= :since",
                      {"name": name, "since": sql_ts(since)})
    return float(rows[0][0])
