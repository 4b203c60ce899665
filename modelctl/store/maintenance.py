"""Whole-database copies: an online backup of a SQLite file, and a JSON export of its state."""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from modelctl.errors import InvalidInput, StoreError
from modelctl.store.db import Store


def backup_sqlite(store: Store, destination: Path, *, force: bool) -> int:
    """A consistent copy through SQLite's online backup API, while others keep writing; its size.

    The copy goes to a private temporary file beside the destination and moves into place only
    when complete and checked, so an interrupted backup never leaves a half-written file there.
    """
    if destination.is_dir():
        raise InvalidInput(f"{destination}: is a directory; give a file path")
    if destination.exists() and not force:
        raise InvalidInput(f"{destination}: already exists; pass --force to overwrite it")
    try:
        fd, partial = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".partial",
                                       dir=destination.parent)  # mode 0600
    except OSError as exc:
        raise StoreError(f"{destination.parent}: cannot write the backup there ({exc.strerror})") from None
    os.close(fd)
    try:
        source = sqlite3.connect(store.path, timeout=15)
        target = sqlite3.connect(partial)
        try:
            source.backup(target)
            problems = [row[0] for row in target.execute("PRAGMA integrity_check")]
        finally:
            target.close()
            source.close()
        if problems != ["ok"]:
            raise StoreError(f"{destination}: the copy failed its integrity check ({'; '.join(problems[:3])})")
        if force:
            os.replace(partial, destination)
        else:
            os.link(partial, destination)  # fails rather than overwrite a file created meanwhile
    except sqlite3.Error as exc:
        raise StoreError(f"{store.path}: backup failed: {exc}") from None
    except FileExistsError:
        raise InvalidInput(f"{destination}: already exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise StoreError(f"{destination}: cannot write the backup ({exc.strerror})") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return destination.stat().st_size


def _json_ready(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def export_tables(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of the model, provider, rollout, gate_result and audit tables, JSON-ready."""
    from sqlalchemy import select

    from modelctl.store.tables import AuditRow, GateResultRow, ModelRow, ProviderRow, RolloutRow

    sections = {"models": ModelRow, "providers": ProviderRow, "rollouts": RolloutRow,
                "gate_results": GateResultRow, "audit": AuditRow}
    out: dict[str, list[dict[str, Any]]] = {}
    with store.connection() as conn:
        for name, row_type in sections.items():
            table = row_type.__table__
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()
            out[name] = [{key: _json_ready(value) for key, value in row.items()} for row in rows]
    for entry in out["audit"]:  # stored as JSON text: export the objects themselves
        for key in ("before", "after"):
            if entry[key] is not None:
                entry[key] = json.loads(entry[key])
    return out
