"""Database upkeep: consistency checks, backup and export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelctl import clock
from modelctl.errors import StoreError
from modelctl.store import maintenance as repo
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


# --------------------------------------------------------------------------- copies


def _pg_dump_hint(store: Store) -> str:
    from sqlalchemy.engine import URL, make_url

    given = make_url(store.url)
    url = URL.create("postgresql", username=given.username, host=given.host, port=given.port,
                     database=given.database, query=given.query)
    return (f"pg_dump --format=custom --file BACKUP.dump '{url.render_as_string(hide_password=False)}' "
            "(the password from ~/.pgpass or PGPASSWORD)")


def backup_database(store: Store, path: str, *, force: bool = False) -> dict[str, Any]:
    """A consistent 0600 copy of a SQLite database; PostgreSQL has its own tool, which we name."""
    if not store.is_sqlite:
        raise StoreError(f"modelctl backs up SQLite files only; for PostgreSQL run: {_pg_dump_hint(store)}")
    destination = Path(path).expanduser().resolve()
    size = repo.backup_sqlite(store, destination, force=force)
    return {"source": str(store.path), "backup": str(destination), "bytes": size}


def export_database(store: Store) -> dict[str, Any]:
    """Catalog, providers, rollouts, gate results and audit as one JSON-ready document."""
    return {"exported_at": clock.now().isoformat(), "schema": store.schema_version(), **repo.export_tables(store)}
