"""Database upkeep: consistency checks."""

from __future__ import annotations

from typing import Any

from modelctl.store.db import Store, schema_history


def check_database(store: Store) -> dict[str, Any]:
    """Integrity, schema version, and that every usage roll-up agrees with the raw rows' count."""
    checks: dict[str, str] = {}
    if store.is_sqlite:
        result = [row[0] for row in store.read("PRAGMA integrity_check")]
        checks["integrity"] = "ok" if result == ["ok"] else "; ".join(result[:5])
    version = store.schema_version()
    checks["schema"] = "ok" if version == schema_history()[-1] else f"at {version}, expected {schema_history()[-1]}"
    raw = store.read("SELECT COUNT(*) FROM usage")[0][0]
    rolled = store.read("SELECT COALESCE(SUM(calls), 0) FROM usage_rollup")[0][0]
    checks["usage roll-ups"] = "ok" if raw == rolled else f"{rolled} rolled up but {raw} usage rows"
    return {"ok": all(v == "ok" for v in checks.values()), "checks": checks, "usage_rows": raw}
