"""Benchmark: `modelctl stats` over 10,000,000 usage rows, answered from the daily and hourly
roll-ups.

Run by hand (not part of the test suite; about 10 minutes and 3 GB of disk for the default):

    python tests/benchmarks/bench_stats_10m.py [--rows 10000000] [--days 90] [--runs 7]

The rows go in through store.usage.insert_usage, in batches of 100,000, each one transaction: the
same path `usage import` takes after parsing (it folds each batch into the hourly and daily
roll-ups), minus only the JSON parsing. The roll-ups are not written directly. Rows: 8 models x 4
segments, seeded, spread evenly over `--days` days before MODELCTL_NOW, unique request ids.

Then it times whole `modelctl stats` processes (median of --runs), grouped by model and by day,
over everything and over the last 7 days, and again after `usage prune --older-than 30d` has
compacted the older days' roll-ups to daily rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench_usage import MODELS, SEGMENTS, median_seconds

NOW = datetime(2026, 12, 1)
BATCH = 100_000


def fill(url: str, *, rows: int, days: int, seed: int = 7) -> float:
    """Insert `rows` usage rows through insert_usage; returns the seconds it took."""
    from modelctl.services.database import open_database
    from modelctl.store.db import sql_ts
    from modelctl.store.usage import insert_usage

    store = open_database(url)
    providers = dict(store.read("SELECT model_id, provider FROM model"))
    rng = random.Random(seed)
    start_ts = NOW - timedelta(days=days)
    step = timedelta(days=days) / rows
    started = time.perf_counter()
    for first in range(0, rows, BATCH):
        batch = []
        for i in range(first, min(first + BATCH, rows)):
            model = MODELS[rng.randrange(8)]
            tokens_in, tokens_out = rng.randint(10, 2000), rng.randint(10, 1500)
            batch.append((
                sql_ts(start_ts + step * i), model, providers[model], SEGMENTS[rng.randrange(4)], "control",
                round(rng.lognormvariate(7, 0.6), 1), round(rng.lognormvariate(5.5, 0.5), 1), tokens_in, tokens_out,
                (tokens_in * 0.0025 + tokens_out * 0.01) / 1000, rng.random() < 0.97, None, None,
                f"req-{i:09d}", 0,
            ))
        with store.write() as conn:
            insert_usage(conn, batch)
        done = first + len(batch)
        if done % 1_000_000 == 0:
            print(f"  {done:,} rows, {done / (time.perf_counter() - started):,.0f} rows/s", flush=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelctl-bench-stats-"))
    env = {**os.environ, "MODELCTL_HOME": str(work / "home"), "MODELCTL_NOW": NOW.isoformat() + "Z"}
    os.environ.update(env)
    modelctl = [sys.executable, "-m", "modelctl"]
    try:
        url = f"sqlite:///{work / 'home' / 'modelctl.db'}"
        seconds = fill(url, rows=args.rows, days=args.days)
        print(f"insert_usage: {args.rows:,} rows in {seconds:.0f} s = {args.rows / seconds:,.0f} rows/s "
              f"(batches of {BATCH:,}, roll-ups folded in)")
        size = sum(p.stat().st_size for p in (work / "home").iterdir()) / 1e9
        check = json.loads(subprocess.run([*modelctl, "db", "check", "--json"], check=True, capture_output=True,
                                          env=env).stdout)
        print(f"database: {size:.1f} GB; db check ok: {check['ok']}, {check['usage_rows']:,} usage rows")

        def rollups() -> int:
            with sqlite3.connect(work / "home" / "modelctl.db") as conn:
                return conn.execute("SELECT COUNT(*) FROM usage_rollup").fetchone()[0]

        def report(label: str) -> None:
            for extra in ([], ["--by", "day"], ["--since", "7d"]):
                median = median_seconds([*modelctl, "stats", "--json", *extra], args.runs, env)
                print(f"{label}: stats {' '.join(extra) or '--by model'}: median {median:.3f} s "
                      f"of {args.runs} runs (whole process)")

        report(f"{args.rows:,} rows, {rollups():,} hourly roll-ups")
        start = time.perf_counter()
        subprocess.run([*modelctl, "usage", "prune", "--older-than", "30d"], check=True, capture_output=True, env=env)
        print(f"usage prune --older-than 30d: {time.perf_counter() - start:.0f} s")
        report(f"after the prune, {rollups():,} roll-ups")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
