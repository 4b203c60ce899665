"""Usage use cases: record one call outcome, import many, report stats."""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from modelctl import clock
from modelctl.core.catalog import ModelSpec
from modelctl.core.usage import (
    UsageRecord,
    decode_usage_line,
    recorded_cost,
    usage_time,
    validate_usage,
)
from modelctl.errors import Interrupted, InvalidInput
from modelctl.services.catalog import require_model
from modelctl.services.jsonl import MAX_LINE_BYTES, iter_json_lines, open_input
from modelctl.store import catalog as catalog_repo
from modelctl.store import staging
from modelctl.store import usage as repo
from modelctl.store.db import Store

BATCH_ROWS = 10_000
MAX_REPORTED_ERRORS = 20

Progress = Callable[[int, int], None]


def _row(record: UsageRecord, spec: ModelSpec, ts: datetime, client_key: str | None = None) -> tuple:
    cost = record.cost_usd
    if cost is None:
        cost = recorded_cost(spec.cost_usd(record.tokens_in, record.tokens_out), success=record.success,
                             tokens_in=record.tokens_in, tokens_out=record.tokens_out)
    return repo.usage_tuple(record, provider=spec.provider, cost_usd=cost, ts=ts, client_key=client_key)


def record_usage(store: Store, data: dict[str, Any], *, client_key: str | None = None) -> dict[str, Any]:
    """Validate and store one outcome; cost comes from catalog prices when not given. `client_key`
    names the API key the outcome came through (its budget counts it)."""
    record = validate_usage(data)
    ts = usage_time(record, parse_ts=clock.parse_timestamp) or clock.now()
    spec = require_model(store, record.model_id)
    row = _row(record, spec, ts, client_key)
    with store.write() as conn:
        inserted = repo.insert_usage(conn, [row])
    result = dict(zip(repo.USAGE_COLUMNS, row, strict=True))
    result["recorded"] = bool(inserted)
    if not inserted:
        result["note"] = f"request_id {record.request_id!r} attempt {record.attempt} was already recorded"
    if result["cost_usd"] is None:
        result["note"] = f"{spec.model_id} has no price in the catalog; cost not recorded"
    return result


def known_segments() -> list[str]:
    """The segments a usage row may name when it comes over HTTP: policy.yaml's segments, its
    refinement chains (`refinement:<type>`), the refiners' probe, and the bundled and user eval
    suites (`evaluate:<suite>`). Free text would let a client mint roll-up keys and metric series
    without bound."""
    from modelctl.paths import bundled_config_dir, config_dir
    from modelctl.services.refiners import PROBE_SEGMENT
    from modelctl.services.routing import load_routing_config

    policy = load_routing_config()["policy"]
    suites = {path.stem for folder in (bundled_config_dir() / "eval", config_dir() / "eval")
              if folder.is_dir() for path in folder.glob("*.y*ml")}
    return sorted({*policy["segments"], *(f"refinement:{name}" for name in policy.get("refinement") or {}),
                   PROBE_SEGMENT, *(f"evaluate:{suite}" for suite in suites)})


def require_known_segment(segment: str | None) -> None:
    """InvalidInput naming the known segments, for a segment that is not one of them."""
    if segment is None:
        return
    known = known_segments()
    if segment not in known:
        raise InvalidInput(f"segment: unknown segment {segment[:100]!r}; known: {', '.join(known)}")


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


def _checked_rows(lines: Iterable[bytes], check: _Check, *, first_line: int,
                  ) -> Iterator[tuple[int, tuple | None, str | None]]:
    """(line number, usage row or None, error or None) for every non-blank line.

    msgspec checks the usual line while decoding it; a line it refuses (bad JSON, a broken rule,
    or only a null) is parsed by orjson and given to `validate_usage`, which decides and words it.
    """
    source, catalog, now, parse_ts = check.source, check.catalog, check.now, clock.parse_timestamp
    for number, raw in enumerate(lines, start=first_line):
        record = decode_usage_line(raw) if len(raw) <= MAX_LINE_BYTES else None
        try:
            if record is None:
                parsed = next(iter_json_lines((raw,), source, start=number), None)
                if parsed is None:
                    continue  # a blank line
                _, data, error = parsed
                if error:
                    yield number, None, error
                    continue
                record = validate_usage(data)
            ts = usage_time(record, parse_ts=parse_ts) or now
        except InvalidInput as exc:
            yield number, None, f"{source}:{number}: {exc}"
            continue
        spec = catalog.get(record.model_id)
        if spec is None:
            yield number, None, f"{source}:{number}: model_id: unknown model {record.model_id!r}"
            continue
        yield number, _row(record, spec, ts), None


def import_usage(store: Store, path: str, *, skip_invalid: bool = False,
                 progress: Progress | None = None) -> ImportReport:
    """Import JSON lines: all-or-nothing per file unless `skip_invalid`, one transaction per batch.

    Pass one checks every line once and writes the rows it makes, with their roll-up groups, to
    private staging files (store/staging.py), so a bad line changes nothing, memory stays flat,
    and a file changed meanwhile cannot slip a bad line past the check; a big file's second half
    is checked by a second process. Pass two inserts the staged batches into `usage`, each
    committed with its roll-ups; a repeated (request_id, attempt) is skipped, so re-running an
    interrupted import completes it without duplicates (Interrupted says how far it got, and what
    to do when some lines have no request_id to be recognised by).
    """
    catalog = {spec.model_id: spec for spec in catalog_repo.list_models(store)}
    report = ImportReport()
    parts: list[tuple[Path, _Checked]] = []
    recorded_to = 0  # the last line of the last batch committed
    try:
        with open_input(path) as (stream, source), tempfile.TemporaryDirectory(prefix="modelctl-import-") as work:
            check = _Check(source, catalog, clock.now(), skip_invalid)
            parts = _check_in_parts(stream, path, Path(work), check)
            for _stage, part in parts:
                report.lines = part.last_line or report.lines
                report.skipped += part.skipped
                report.unpriced_models |= part.unpriced_models
            if report.skipped and not skip_invalid:
                shown = report.skipped[:MAX_REPORTED_ERRORS]
                more = "" if len(shown) < MAX_REPORTED_ERRORS else "\n(further lines not checked)"
                raise InvalidInput(
                    "\n".join(shown) + more + "\nnothing was imported; fix the lines above or pass --skip-invalid"
                )
            with store.connection() as conn, repo.bulk_writes(conn):
                for stage, _part in parts:
                    with repo.staged_copies(conn, stage) as copy:
                        for batch in staging.batches(stage):
                            with conn.begin():
                                report.inserted += copy(batch.rowids, batch.rollups)
                            recorded_to = batch.last_line
                            if progress:
                                progress(batch.last_line, report.lines)
    except KeyboardInterrupt:
        raise _interrupted(path, recorded_to, anonymous=any(part.anonymous for _stage, part in parts)) from None
    report.duplicates = sum(part.staged for _stage, part in parts) - report.inserted
    return report


def _interrupted(path: str, recorded_to: int, *, anonymous: bool) -> Interrupted:
    """Ctrl-C during an import: what is recorded, and how to carry on. A rerun skips the lines
    already recorded by their request_id; a line without one cannot be recognised, so when the
    file has such lines and some were committed, the rerun must start after them."""
    if not recorded_to:
        return Interrupted("interrupted before anything was recorded; run it again to import the file")
    if not anonymous:
        return Interrupted(f"interrupted: lines 1-{recorded_to:,} are recorded; run it again to continue "
                           "(the lines already recorded are skipped by their request_id)")
    where = (f"line {recorded_to + 1:,} of the input" if path == "-"
             else f"tail -n +{recorded_to + 1} {path} | modelctl usage import -")
    return Interrupted(f"interrupted: lines 1-{recorded_to:,} are recorded; some lines have no request_id, so "
                       f"a rerun would record those twice: continue with {where}")


# Below this size a second process costs more than it saves (it starts in ~10 ms and checks
# ~70,000 lines a second); 16 MB is about 75,000 usage lines.
PARALLEL_MIN_BYTES = 16 << 20


@dataclass(frozen=True)
class _Check:
    """What checking a line needs: sent to the second process as it is."""

    source: str
    catalog: dict[str, ModelSpec]
    now: datetime
    skip_invalid: bool


@dataclass
class _Checked:
    """What pass one found in a run of lines."""

    last_line: int = 0
    staged: int = 0
    skipped: list[str] = field(default_factory=list)
    unpriced_models: set[str] = field(default_factory=set)
    anonymous: bool = False  # some staged row has no request_id: a rerun could not recognise it


def _check_in_parts(stream: IO[bytes], path: str, work: Path, check: _Check) -> list[tuple[Path, _Checked]]:
    """Pass one, into staging files under `work`: (file, what it found) per part, in file order.

    A regular file of PARALLEL_MIN_BYTES or more on a machine with two cores is cut at the line
    that starts after its middle; a second process checks the second half meanwhile.
    """
    first = work / "1.stage"
    middle = _middle_line_start(stream) if path != "-" else None
    if middle is None:
        return [(first, _check_into(first, stream, first_line=1, check=check))]
    from concurrent.futures import ProcessPoolExecutor

    second = work / "2.stage"
    with ProcessPoolExecutor(max_workers=1, initializer=_start_checker) as pool:
        # forked at the submit: SIGINT is held back until the child has its own rule for it
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            later = pool.submit(_check_second_half, path, middle, second, check)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        checked = _check_into(first, _lines_before(stream, middle), first_line=1, check=check)
        return [(first, checked), (second, later.result())]


def _start_checker() -> None:
    """The second process ends at the terminal's Ctrl-C at once and without a word (the default
    action): its half is worthless once the import stops, and the parent reports the interruption."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _middle_line_start(stream: IO[bytes]) -> int | None:
    """Where the first line after the middle of a big regular file starts; None: do not split."""
    if (os.cpu_count() or 1) < 2 or not stream.seekable():
        return None
    size = os.fstat(stream.fileno()).st_size
    if size < PARALLEL_MIN_BYTES:
        return None
    stream.seek(size // 2)
    stream.readline()
    middle = stream.tell()
    stream.seek(0)
    return middle if middle < size else None


def _lines_before(stream: IO[bytes], end: int) -> Iterator[bytes]:
    read = 0
    for raw in stream:
        yield raw
        read += len(raw)
        if read >= end:
            return


def _check_second_half(path: str, start: int, stage: Path, check: _Check) -> _Checked:
    """In the second process: count the lines before `start` (for line numbers), check the rest."""
    with open(path, "rb") as stream:
        lines_before = 0
        while (left := start - stream.tell()) > 0:
            lines_before += stream.read(min(left, 1 << 20)).count(b"\n")
        return _check_into(stage, stream, first_line=lines_before + 1, check=check)


def _check_into(stage: Path, lines: Iterable[bytes], *, first_line: int, check: _Check) -> _Checked:
    """Check lines, staging their rows in batches of BATCH_ROWS; stops after MAX_REPORTED_ERRORS
    errors unless skipping them."""
    checked = _Checked()
    batch: list[tuple] = []
    with staging.writing(stage) as write:
        def flush() -> None:
            write(batch, checked.last_line, repo.rollups_of(batch))
            checked.staged += len(batch)

        for number, row, error in _checked_rows(lines, check, first_line=first_line):
            checked.last_line = number
            if error:
                checked.skipped.append(error)
                if not check.skip_invalid and len(checked.skipped) >= MAX_REPORTED_ERRORS:
                    break
                continue
            assert row is not None  # _checked_rows gives a row or an error
            if row[9] is None:
                checked.unpriced_models.add(row[1])
            if row[13] is None:
                checked.anonymous = True
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                flush()
                batch = []
        if batch:
            flush()
    return checked


def usage_stats(store: Store, *, by: str = "model", since: str | None = None) -> dict[str, Any]:
    if by not in repo.GROUP_KEYS:
        raise InvalidInput(f"unknown grouping {by!r}; valid: {', '.join(repo.GROUP_KEYS)}")
    now = clock.now()
    start = clock.parse_window(since, option="--since", now=now) if since else datetime(1970, 1, 1)
    rows = repo.usage_stats(store, by=by, since=start, until=now)
    return {"since": repo.window_start(start), "until": now, "by": by, "rows": rows}
