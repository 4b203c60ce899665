"""Database upkeep: consistency checks, retention (prune), backup and export."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from modelctl import clock
from modelctl.errors import InvalidInput, StoreError
from modelctl.store import maintenance as repo
from modelctl.store.db import Store, schema_history

BATCH_ROWS = 20_000


def check_database(store: Store) -> dict[str, Any]:
    """Integrity, schema version, and that both levels of usage roll-ups count every raw row, pruned ones included."""
    checks: dict[str, str] = {}
    if store.is_sqlite:
        result = repo.integrity_problems(store)
        checks["integrity"] = "ok" if result == ["ok"] else "; ".join(result[:5])
    version = store.schema_version()
    checks["schema"] = "ok" if version == schema_history()[-1] else f"at {version}, expected {schema_history()[-1]}"
    raw = repo.usage_rows(store)
    pruned = repo.pruned_calls(store)
    for name, daily in (("usage roll-ups", False), ("daily usage roll-ups", True)):
        rolled = repo.rolled_up_calls(store, daily=daily)
        checks[name] = (
            "ok" if raw + pruned == rolled else f"{rolled} calls rolled up but {raw} usage rows and {pruned} pruned"
        )
    return {"ok": all(v == "ok" for v in checks.values()), "checks": checks, "usage_rows": raw,
            "pruned_rows": pruned}


# --------------------------------------------------------------------------- retention


@dataclass
class PruneReport:
    cutoff: datetime
    dry_run: bool
    deleted_rows: int = 0
    days: set[date] = field(default_factory=set)
    rollups_before: int = 0
    rollups_after: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"cutoff": clock.rfc3339(self.cutoff), "dry_run": self.dry_run, "deleted_rows": self.deleted_rows,
                "days": len(self.days), "rollups_before": self.rollups_before, "rollups_after": self.rollups_after}


def prune_cutoff(older_than: str, *, now: datetime) -> datetime:
    """`90d` (or an ISO date) back from now, rounded down to midnight UTC: prune works in whole days."""
    start = clock.parse_window(older_than, option="--older-than", now=now)
    if start > now:
        raise InvalidInput(f"--older-than: {older_than!r} is in the future")
    return repo.midnight(start.date())


def _refuse_to_cut_into_rollouts(store: Store, cutoff: datetime, now: datetime) -> None:
    """Gates judge an active rollout on the raw rows of its current phase: those must stay."""
    from modelctl.core.rollout import ACTIVE_PHASES
    from modelctl.store.rollouts import list_rollouts

    for rollout in list_rollouts(store, phases=ACTIVE_PHASES):
        if rollout.phase_started_at < cutoff:
            days = max(1, (now.date() - rollout.phase_started_at.date()).days)
            raise InvalidInput(
                f"the {rollout.phase} rollout of {rollout.candidate_id} is judged on usage since "
                f"{rollout.phase_started_at:%Y-%m-%d %H:%M}; prune at most --older-than {days}d, "
                "or finish the rollout first"
            )


def prune_usage(store: Store, *, older_than: str, dry_run: bool = False, batch_rows: int = BATCH_ROWS) -> PruneReport:
    """Delete raw usage rows before the cutoff and compact those days' roll-ups to daily rows.

    Every batch is its own transaction and keeps roll-ups = raw rows + pruned counts, so a prune
    killed midway leaves a consistent database, and running it again finishes the job.
    """
    from modelctl.paths import actor
    from modelctl.store.catalog import write_audit

    now = clock.now()
    report = PruneReport(prune_cutoff(older_than, now=now), dry_run)
    _refuse_to_cut_into_rollouts(store, report.cutoff, now)
    if dry_run:
        report.deleted_rows, report.rollups_before = repo.prunable(store, before=report.cutoff)
        report.rollups_after = report.rollups_before
        return report
    with store.connection() as conn:
        while (day := repo.oldest_usage_day(store, before=report.cutoff)) is not None:
            report.days.add(day)
            deleted = batch_rows
            while deleted == batch_rows:
                with conn.begin():
                    deleted = repo.delete_usage_batch(conn, day=day, size=batch_rows, now=now)
                report.deleted_rows += deleted
        for day in repo.hourly_rollup_days(store, before=report.cutoff):
            with conn.begin():
                before, after = repo.compact_rollups(conn, day=day)
            report.days.add(day)
            report.rollups_before += before
            report.rollups_after += after
        if report.deleted_rows or report.rollups_before:
            with conn.begin():
                write_audit(conn, actor=actor(), action="usage-prune", target="usage",
                            after={"older_than": older_than, **report.as_dict()}, now=now)
    return report


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
    return {"exported_at": clock.rfc3339(clock.now()), "schema": store.schema_version(), **repo.export_tables(store)}
