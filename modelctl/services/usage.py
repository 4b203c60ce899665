"""Usage use cases: record one call outcome, import many, report stats."""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import msgspec

from modelctl import clock
from modelctl.core.catalog import ModelSpec
from modelctl.core.usage import (
    UsageFieldError,
    UsageLine,
    UsageRecord,
    decode_usage_line,
    parse_usage_record,
    parse_window,
)
from modelctl.errors import InvalidInput
from modelctl.services.catalog import require_model
from modelctl.services.jsonl import MAX_LINE_BYTES, iter_json_lines, open_input
from modelctl.store import catalog as catalog_repo
from modelctl.store import usage as repo
from modelctl.store.db import Store

BATCH_ROWS = 10_000
MAX_REPORTED_ERRORS = 20

Progress = Callable[[int, int], None]


def _row(record: UsageRecord | UsageLine, spec: ModelSpec, ts: datetime) -> tuple:
    cost = record.cost_usd if record.cost_usd is not None else spec.cost_usd(record.tokens_in, record.tokens_out)
    return repo.usage_tuple(record, provider=spec.provider, cost_usd=cost, ts=ts)


def record_usage(store: Store, data: dict[str, Any]) -> dict[str, Any]:
    """Validate and store one outcome; cost comes from catalog prices when not given."""
    try:
        record = parse_usage_record(data, parse_ts=clock.parse_timestamp)
    except UsageFieldError as exc:
        raise InvalidInput(str(exc)) from None
    spec = require_model(store, record.model_id)
    row = _row(record, spec, record.ts or clock.now())
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


def _checked_rows(lines: IO[bytes], source: str, catalog: dict[str, ModelSpec], now: datetime,
                  ) -> Iterator[tuple[int, tuple | None, str | None]]:
    """(line number, usage row or None, error or None) for every non-blank line.

    msgspec checks the usual line while decoding it; a line it refuses (bad JSON, a broken rule,
    or only an unusual spelling such as a null count) goes to `_slow_check`, which decides.
    """
    parse_ts = clock.parse_timestamp
    for number, raw in enumerate(lines, start=1):
        try:
            if len(raw) > MAX_LINE_BYTES:
                raise ValueError("too long for msgspec: the slow path names it")
            record = decode_usage_line(raw)
            ts = parse_ts(record.ts) if record.ts is not None else now
        except Exception:  # noqa: BLE001 - whatever the fast path refuses, the slow path decides
            checked = _slow_check(raw, number, source, now)
            if checked is None:
                continue
            if isinstance(checked, str):
                yield number, None, checked
                continue
            record, ts = checked
        spec = catalog.get(record.model_id)
        if spec is None:
            yield number, None, f"{source}:{number}: model_id: unknown model {record.model_id!r}"
            continue
        yield number, _row(record, spec, ts), None


def _slow_check(raw: bytes, number: int, source: str, now: datetime) -> tuple[UsageRecord, datetime] | str | None:
    """orjson and parse_usage_record on one line: (record, ts), the error message, or None when blank."""
    for _, data, error in iter_json_lines((raw,), source, start=number):
        if error:
            return error
        try:
            record = parse_usage_record(data, parse_ts=clock.parse_timestamp)
        except UsageFieldError as exc:
            return f"{source}:{number}: {exc}"
        return record, record.ts or now
    return None


def import_usage(store: Store, path: str, *, skip_invalid: bool = False,
                 progress: Progress | None = None) -> ImportReport:
    """Import JSON lines: all-or-nothing per file unless `skip_invalid`, one transaction per batch.

    Pass one checks every line once and writes the rows it makes to a private spool file
    (msgpack, a batch a frame), so a bad line changes nothing, memory stays flat, and a file
    changed meanwhile cannot slip a bad line past the check. Pass two inserts the spooled batches
    into `usage`, each committed with its roll-ups; a repeated (request_id, attempt) is skipped,
    so re-running an interrupted import completes it without duplicates.
    """
    catalog = {spec.model_id: spec for spec in catalog_repo.list_models(store)}
    report = ImportReport()
    with open_input(path) as (stream, source), tempfile.TemporaryFile() as spool:
        staged = _spool_checked_rows(stream, source, catalog, spool, report, skip_invalid=skip_invalid)
        if report.skipped and not skip_invalid:
            more = "" if len(report.skipped) < MAX_REPORTED_ERRORS else "\n(further lines not checked)"
            raise InvalidInput(
                "\n".join(report.skipped) + more
                + "\nnothing was imported; fix the lines above or pass --skip-invalid"
            )
        spool.seek(0)
        with store.connection() as conn:
            for last_line, batch in _read_spool(spool):
                with conn.begin():
                    report.inserted += repo.insert_usage(conn, batch)
                if progress:
                    progress(last_line, report.lines)
    report.duplicates = staged - report.inserted
    return report


_FRAME = struct.Struct("<I")  # a spooled batch's length in bytes, before it


def _spool_checked_rows(stream: IO[bytes], source: str, catalog: dict[str, ModelSpec], spool: IO[bytes],
                        report: ImportReport, *, skip_invalid: bool) -> int:
    """Pass one: check every line, spool the rows in batches of BATCH_ROWS; returns how many."""
    encode = msgspec.msgpack.Encoder().encode
    staged, batch, number = 0, [], 0

    def flush() -> None:
        frame = encode((number, batch))
        spool.write(_FRAME.pack(len(frame)))
        spool.write(frame)

    for number, row, error in _checked_rows(stream, source, catalog, clock.now()):
        report.lines = number
        if error:
            report.skipped.append(error)
            if not skip_invalid and len(report.skipped) >= MAX_REPORTED_ERRORS:
                break
            continue
        if row[9] is None:
            report.unpriced_models.add(row[1])
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            flush()
            staged += len(batch)
            batch = []
    if batch:
        flush()
    return staged + len(batch)


def _read_spool(spool: IO[bytes]) -> Iterator[tuple[int, list[tuple]]]:
    """(last line number, rows) for every spooled batch, in file order."""
    decode = msgspec.msgpack.Decoder(tuple[int, list[tuple]]).decode
    while header := spool.read(_FRAME.size):
        yield decode(spool.read(_FRAME.unpack(header)[0]))


def usage_stats(store: Store, *, by: str = "model", since: str | None = None) -> dict[str, Any]:
    if by not in repo.GROUP_KEYS:
        raise InvalidInput(f"unknown grouping {by!r}; valid: {', '.join(repo.GROUP_KEYS)}")
    now = clock.now()
    start = parse_window(since, now=now, parse_ts=clock.parse_timestamp) if since else datetime(1970, 1, 1)
    rows = repo.usage_stats(store, by=by, since=start, until=now)
    return {"since": repo.window_start(start), "until": now, "by": by, "rows": rows}
