"""Catalog, provider and audit rows: read through the fast path, written in one transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, overload

from modelctl.core.catalog import ModelSpec
from modelctl.store.db import Store, sql_ts

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

SPEC_FIELDS = tuple(f.name for f in fields(ModelSpec))
_MODEL_SELECT = f"SELECT {', '.join(SPEC_FIELDS)} FROM model"


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


@overload
def as_datetime(value: None) -> None: ...
@overload
def as_datetime(value: datetime | str) -> datetime: ...
def as_datetime(value: datetime | str | None) -> datetime | None:
    """A stored timestamp as a datetime: SQLite returns its text, PostgreSQL a datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _spec_from_row(row: tuple) -> ModelSpec:
    values = dict(zip(SPEC_FIELDS, row, strict=True))
    caps = values["capabilities"]
    values["capabilities"] = frozenset(json.loads(caps) if isinstance(caps, str) else caps or ())
    values["is_refiner"] = bool(values["is_refiner"])
    values["deprecation_date"] = _as_date(values["deprecation_date"])
    return ModelSpec(**values)


def list_models(store: Store) -> list[ModelSpec]:
    return [_spec_from_row(row) for row in store.read(_MODEL_SELECT + " ORDER BY provider, model_id")]


def get_model(store: Store, model_id: str) -> ModelSpec | None:
    rows = store.read(_MODEL_SELECT + " WHERE model_id = :model_id", {"model_id": model_id})
    return _spec_from_row(rows[0]) if rows else None


def model_ids(store: Store) -> list[str]:
    return [row[0] for row in store.read("SELECT model_id FROM model ORDER BY model_id")]


def model_cooldowns(store: Store) -> list[tuple[str, str, Any]]:
    """(model_id, provider, cooldown_until) of the models resting after repeated failures, by model_id."""
    return store.read(
        "SELECT model_id, provider, cooldown_until FROM model WHERE cooldown_until IS NOT NULL ORDER BY 1"
    )


def spec_to_json(spec: ModelSpec) -> dict[str, Any]:
    """A JSON-ready dict of a spec (sorted capabilities, ISO dates)."""
    data = asdict(spec)
    data["capabilities"] = sorted(spec.capabilities)
    data["deprecation_date"] = spec.deprecation_date.isoformat() if spec.deprecation_date else None
    return data


def upsert_models(
    conn: Connection, specs: Iterable[ModelSpec], *, now: datetime
) -> list[tuple[ModelSpec | None, ModelSpec]]:
    """Insert or update catalog models; returns (before, after) for each row that changed."""
    from sqlalchemy import text

    changed: list[tuple[ModelSpec | None, ModelSpec]] = []
    existing = {
        row[0]: _spec_from_row(row)
        for row in conn.execute(text(_MODEL_SELECT)).all()
    }
    for spec in specs:
        before = existing.get(spec.model_id)
        if before == spec:
            continue
        values = asdict(spec)
        values["capabilities"] = json.dumps(sorted(spec.capabilities))
        values["deprecation_date"] = spec.deprecation_date.isoformat() if spec.deprecation_date else None
        values["updated_at"] = sql_ts(now)
        if before is None:
            values["created_at"] = sql_ts(now)
            columns = ", ".join(values)
            conn.execute(
                text(f"INSERT INTO model ({columns}) VALUES ({', '.join(':' + c for c in values)})"),
                values,
            )
        else:
            assignments = ", ".join(f"{c} = :{c}" for c in values if c != "model_id")
            conn.execute(text(f"UPDATE model SET {assignments} WHERE model_id = :model_id"), values)
        existing[spec.model_id] = spec
        changed.append((before, spec))
    return changed


def write_audit(conn: Connection, *, actor: str, action: str, target: str, before: Any = None, after: Any = None,
                now: datetime) -> None:
    from sqlalchemy import text

    conn.execute(
        text("INSERT INTO audit (ts, actor, action, target, before, after) "
             "VALUES (:ts, :actor, :action, :target, :before, :after)"),
        {
            "ts": sql_ts(now),
            "actor": actor,
            "action": action,
            "target": target,
            "before": None if before is None else json.dumps(before, sort_keys=True, default=str),
            "after": None if after is None else json.dumps(after, sort_keys=True, default=str),
        },
    )


def read_audit(store: Store, *, since: datetime | None, limit: int) -> list[dict[str, Any]]:
    rows = store.read(
        "SELECT ts, actor, action, target, before, after FROM audit "
        "WHERE ts >= :since ORDER BY id DESC LIMIT :limit",
        {"since": sql_ts(since or datetime(1970, 1, 1)), "limit": limit},
    )
    return [
        {
            "ts": as_datetime(ts),
            "actor": actor,
            "action": action,
            "target": target,
            "before": json.loads(before) if before else None,
            "after": json.loads(after) if after else None,
        }
        for ts, actor, action, target, before, after in rows
    ]


def upsert_providers(conn: Connection, providers: dict[str, Any]) -> None:
    """Keep the provider rows (which hold health state) in step with providers.yaml."""
    from sqlalchemy import text

    known = {row[0] for row in conn.execute(text("SELECT name FROM provider")).all()}
    for name, cfg in providers.items():
        values = {"name": name, "kind": cfg.kind, "base_url": cfg.base_url, "api_key_env": cfg.api_key_env}
        if name in known:
            conn.execute(
                text("UPDATE provider SET kind = :kind, base_url = :base_url, api_key_env = :api_key_env "
                     "WHERE name = :name"),
                values,
            )
        else:
            conn.execute(
                text("INSERT INTO provider (name, kind, base_url, api_key_env, health, consecutive_failures) "
                     "VALUES (:name, :kind, :base_url, :api_key_env, 'unknown', 0)"),
                values,
            )


def provider_states(store: Store) -> dict[str, dict[str, Any]]:
    rows = store.read("SELECT name, health, consecutive_failures, cooldown_until, last_check FROM provider")
    return {
        name: {
            "health": health,
            "consecutive_failures": failures,
            "cooldown_until": as_datetime(cooldown),
            "last_check": as_datetime(last_check),
        }
        for name, health, failures, cooldown, last_check in rows
    }


def find_audit(store: Store, *, action: str, target: str | None = None, since: datetime | None = None,
               ) -> list[dict[str, Any]]:
    """Audit entries of one action (and target), oldest first: what was already done and when."""
    on_target = "" if target is None else "AND target = :target "
    rows = store.read(
        "SELECT ts, actor, action, target, before, after FROM audit WHERE action = :action "
        f"{on_target}AND ts >= :since ORDER BY id",
        {"action": action, "target": target, "since": sql_ts(since or datetime(1970, 1, 1))},
    )
    return [
        {"ts": as_datetime(ts), "actor": who, "action": what, "target": on,
         "before": json.loads(before) if before else None, "after": json.loads(after) if after else None}
        for ts, who, what, on, before, after in rows
    ]
