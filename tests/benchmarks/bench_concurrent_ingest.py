"""Benchmark: usage ingestion by concurrent writer processes, on SQLite and on PostgreSQL.

Run by hand (not part of the test suite):

    python tests/benchmarks/bench_concurrent_ingest.py [--rows 200000] [--writers 4] \
        [--postgres postgresql+psycopg://USER@HOST:PORT/DB]

For each backend, on a fresh database: the same number of rows imported by one `usage import`
process, then split over `--writers` processes started at once (distinct request ids); rows/s is
rows over the wall time from the first start to the last exit. While the writers run, this
process records single calls one after another through the service `usage record` calls, and
times each: p50, p99 and max, next to the p99 on the idle database. `cli idle` is the whole
`modelctl usage record` process on the idle database (interpreter start-up included), which a
loaded call adds its wait to.
PostgreSQL runs when --postgres or $MODELCTL_TEST_DATABASE_URL names a server; a database is
created for each run and dropped after.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from modelctl.services.database import open_database

if TYPE_CHECKING:
    from modelctl.store.db import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for tests.*
from tests.postgres_scratch import scratch_database

MODELS = ["gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022", "gpt-4o-mini-2024-07-18", "claude-3-5-haiku-20241022"]
SEGMENTS = ["simple", "technical", "research", "multimedia"]


def write_usage(path: Path, ids: range) -> None:
    """Rows over 7 days: every writer touches the same hourly roll-ups, as real hosts would."""
    with path.open("w") as out:
        for i in ids:
            offset = i * 7919 % (7 * 86400)
            day, rest = divmod(offset, 86400)
            out.write(json.dumps({
                "model_id": MODELS[i % len(MODELS)], "segment": SEGMENTS[i // 7 % len(SEGMENTS)],
                "latency_ms": 200 + i * 31 % 4000, "ttft_ms": 50 + i * 17 % 600,
                "tokens_in": 10 + i % 2000, "tokens_out": 10 + i * 3 % 1500, "success": i % 31 != 0,
                "request_id": f"bench-{i:09d}",
                "ts": f"2026-10-{day + 1:02d}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}Z",
            }) + "\n")


def modelctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "modelctl", *args]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@contextmanager
def fresh_database(backend: str, server: str | None, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / f'{uuid.uuid4().hex}.db'}"
        return
    with scratch_database(server, "modelctl_bench") as url:
        yield url


def timed_record(store: Store, n: int) -> float:
    """One `usage record` through the service the command calls (the database part of its time)."""
    from modelctl.services.usage import record_usage

    start = time.perf_counter()
    record_usage(store, {"model_id": MODELS[0], "latency_ms": 321, "tokens_in": 12,
                         "request_id": f"probe-{uuid.uuid4().hex}-{n}"})
    return time.perf_counter() - start


def cli_seconds(env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(modelctl("usage", "record", MODELS[0], "--latency-ms", "321"), env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - start


def run(backend: str, server: str | None, *, rows: int, writers: int, tmp: Path) -> dict:
    files = []
    per = rows // writers
    for k in range(writers):
        path = tmp / f"usage-{writers}-{k}.jsonl"
        write_usage(path, range(k * per, (k + 1) * per))
        files.append(path)
    with fresh_database(backend, server, tmp) as url:
        env = {**os.environ, "MODELCTL_DATABASE_URL": url, "MODELCTL_HOME": str(tmp / "home")}
        subprocess.run(modelctl("init"), env=env, check=True, capture_output=True)
        cli_idle = statistics.median(cli_seconds(env) for _ in range(5))
        store = open_database(url)
        idle = [timed_record(store, n) for n in range(200)]
        start = time.perf_counter()
        procs = [subprocess.Popen(modelctl("usage", "import", str(path), "--json"), env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for path in files]
        loaded = []
        while any(p.poll() is None for p in procs):
            loaded.append(timed_record(store, len(idle) + len(loaded)))
        elapsed = time.perf_counter() - start
        store.dispose()
        inserted = 0
        for proc in procs:
            out, err = proc.communicate()
            if proc.returncode != 0 or not out:
                raise SystemExit(f"{backend}: a writer failed (exit {proc.returncode}): {err}")
            inserted += json.loads(out)["inserted"]
        check = subprocess.run(modelctl("db", "check", "--json"), env=env, capture_output=True, text=True)
        if not check.stdout:
            raise SystemExit(f"{backend}: db check failed: {check.stderr}")
    return {
        "backend": backend, "writers": writers, "rows": inserted, "seconds": elapsed,
        "rows_per_s": inserted / elapsed, "records": len(loaded),
        "record_p50_ms": 1000 * statistics.median(loaded), "record_p99_ms": 1000 * percentile(loaded, 0.99),
        "record_max_ms": 1000 * max(loaded), "idle_p99_ms": 1000 * percentile(idle, 0.99),
        "cli_idle_ms": 1000 * cli_idle, "db_check_ok": json.loads(check.stdout)["ok"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--postgres", default=os.environ.get("MODELCTL_TEST_DATABASE_URL"))
    args = parser.parse_args()
    backends = ["sqlite"] + (["postgres"] if args.postgres else [])
    if not args.postgres:
        print("PostgreSQL skipped: give --postgres URL or set MODELCTL_TEST_DATABASE_URL", file=sys.stderr)
    print(f"{'backend':9} {'writers':>7} {'rows':>8} {'s':>6} {'rows/s':>7} {'records':>7} {'p50 ms':>6} "
          f"{'p99 ms':>6} {'max ms':>6} {'idle p99':>8} {'cli idle':>8} {'check':>5}")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            for writers in sorted({1, args.writers}):
                r = run(backend, args.postgres, rows=args.rows, writers=writers, tmp=Path(tmp))
                print(f"{r['backend']:9} {r['writers']:>7} {r['rows']:>8} {r['seconds']:>6.1f} "
                      f"{r['rows_per_s']:>7.0f} {r['records']:>7} {r['record_p50_ms']:>6.1f} "
                      f"{r['record_p99_ms']:>6.1f} {r['record_max_ms']:>6.0f} {r['idle_p99_ms']:>8.1f} "
                      f"{r['cli_idle_ms']:>8.0f} {'ok' if r['db_check_ok'] else 'BAD':>5}", flush=True)

if __name__ == "__main__":
    main()
