"""Usage use cases: record one call outcome, import many, report stats."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from modelctl import clock
from modelctl.core.catalog import ModelSpec
from modelctl.core.usage import UsageFieldError, UsageRecord, parse_usage_record, parse_window
from modelctl.errors import InvalidInput
from modelctl.services.catalog import require_model
from modelctl.services.jsonl import iter_json_lines, open_input
from modelctl.store import catalog as catalog_repo
from modelctl.store import usage as repo
from modelctl.store.db import Store

BATCH_ROWS = 10_000
MAX_REPORTED_ERRORS = 20

Progress = Callable[[int, int], None]


def _row(record: UsageRecord, spec: ModelSpec, now: datetime) -> tuple:
    cost = record.cost_usd if record.cost_usd is not None else spec.cost_usd(record.tokens_in, record.tokens_out)
    return repo.usage_tuple(record, provider=spec.provider, cost_usd=cost, ts=record.ts or now)


def record_usage(store: Store, data: dict[str, Any]) -> dict[str, Any]:
    """Validate and store one outcome; cost comes from catalog prices when not given."""
    try:
        record = parse_usage_record(data, parse_ts=clock.parse_timestamp)
    except UsageFieldError as exc:
        raise InvalidInput(str(exc)) from None
    spec = require_model(store, record.model_id)
    row = _row(record, spec, clock.now())
    with store.write() as conn:
        inserted = repo.insert_usage(conn, [row])
    result = dict(zip(repo.USAGE_COLUMNS, row))
    result["recorded"] = bool(inserted)
    if not inserted:
        result["note"] = f"request_id {record.request_id!r} attempt {record.attempt} was already recorded"
    if result["cost_usd"] is None:
        result["note"] = f"{spec.model_id} has no price in the catalog; cost not recorded"
    return result


@dataclass
class ImportReport:
    lines: int = 0
    inserted: int = 0
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)
    unpriced_models: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "skipped": len(self.skipped),
            "skipped_lines": self.skipped[:MAX_REPORTED_ERRORS],
            "unpriced_models": sorted(self.unpriced_models),
        }


def _records(stream: IO[bytes], source: str, catalog: dict[str, ModelSpec], now: datetime,
             ) -> Iterator[tuple[int, tuple | None, str | None]]:
    """(line number, usage row or None, error or None) for every non-blank line."""
    for number, data, error in iter_json_lines(stream, source):
        if error:
            yield number, None, error
            continue
        try:
            record = parse_usage_record(data, parse_ts=clock.parse_timestamp)
        except UsageFieldError as exc:
            yield number, None, f"{source}:{number}: {exc}"
            continue
        spec = catalog.get(record.model_id)
        if spec is None:
            yield number, None, f"{source}:{number}: model_id: unknown model {record.model_id!r}"
            continue
        yield number, _row(record, spec, now), None


def import_usage(store: Store, path: str, *, skip_invalid: bool = False,
                 progress: Progress | None = None) -> ImportReport:
    """Import JSON lines: all-or-nothing per file unless `skip_invalid`, one transaction per batch.

    Pass one parses and checks every line once, into a connection-private staging table, so a bad
    line changes nothing and memory stays flat. Pass two moves the staged rows into `usage` in
    batches, each committed with its roll-ups; a repeated (request_id, attempt) is skipped, so
    re-running an interrupted import completes it without duplicates.
    """
    catalog = {spec.model_id: spec for spec in catalog_repo.list_models(store)}
    now = clock.now()
    report = ImportReport()
    with open_input(path) as (stream, source), store.connection() as conn:
        with conn.begin():
            repo.create_staging(conn)
        pending: list[tuple] = []
        for number, row, error in _records(stream, source, catalog, now):
            report.lines = number
            if error:
                report.skipped.append(error)
                if not skip_invalid and len(report.skipped) >= MAX_REPORTED_ERRORS:
                    break
                continue
            if row[9] is None:
                report.unpriced_models.add(row[1])
            pending.append((number, *row))
            if len(pending) >= BATCH_ROWS:
                with conn.begin():
                    repo.stage_rows(conn, pending)
                pending = []
        if report.skipped and not skip_invalid:
            more = "" if len(report.skipped) < MAX_REPORTED_ERRORS else "\n(further lines not checked)"
            raise InvalidInput(
                "\n".join(report.skipped) + more
                + "\nnothing was imported; fix the lines above or pass --skip-invalid"
            )
        if pending:
            with conn.begin():
                repo.stage_rows(conn, pending)
        staged, last_line = 0, 0
        while True:
            with conn.begin():
                batch = repo.staged_batch(conn, after_line=last_line, size=BATCH_ROWS)
                if not batch:
                    break
                report.inserted += repo.insert_usage(conn, [row[1:] for row in batch])
            staged += len(batch)
            last_line = batch[-1][0]
            if progress:
                progress(last_line, report.lines)
    report.duplicates = staged - report.inserted
    return report


def usage_stats(store: Store, *, by: str = "model", since: str | None = None) -> dict[str, Any]:
    if by not in repo.GROUP_KEYS:
        raise InvalidInput(f"unknown grouping {by!r}; valid: {', '.join(repo.GROUP_KEYS)}")
    now = clock.now()
    start = parse_window(since, now=now, parse_ts=clock.parse_timestamp) if since else datetime(1970, 1, 1)
    rows = repo.usage_stats(store, by=by, since=start, until=now)
    return {"since": repo.window_start(start), "until": now, "by": by, "rows": rows}
