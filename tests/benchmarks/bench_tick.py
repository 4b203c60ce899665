"""`upgrade tick` with 10 active rollouts over 1M usage rows: target <= 2 s.

Run: python tests/benchmarks/bench_tick.py [--rows 1000000] [--rollouts 10] [--repeat 3]

A fresh SQLite store gets `--rows` usage rows spread over 7 days: every rollout's segment carries
its incumbent's control calls and its candidate's canary calls (10% of the segment), and a third of
the rows belong to other models and segments that no rollout reads. The rollouts are in canary for
the last 3 days, so each tick reads about 40% of the table through the gates' SQL (per segment
counts, sums and latency histograms); the tick is timed with MODELCTL_NOW fixed, so the rollouts
only wait and every repeat does the same work.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

START = datetime(2026, 3, 2)
SPAN = timedelta(days=7)
CANARY_FOR = timedelta(days=3)
BATCH = 50_000


def _rows(rng: random.Random, n: int, rollouts: int):
    from modelctl.store.db import sql_ts

    span_s = SPAN.total_seconds()
    for i in range(n):
        k = rng.randrange(rollouts)
        kind = rng.random()
        if kind < 1 / 3:
            model, segment, arm = f"bench-other-{k}", f"bench-other-{k}", "control"
        elif kind < 1 / 3 + 2 / 30:
            model, segment, arm = f"bench-cand-{k}", f"bench-{k}", "canary"
        else:
            model, segment, arm = f"bench-inc-{k}", f"bench-{k}", "control"
        ok = rng.random() < 0.95
        yield (sql_ts(START + timedelta(seconds=rng.random() * span_s)), model, "openai", segment, arm,
               rng.lognormvariate(math.log(900), 0.5), None, 100, 200, rng.lognormvariate(math.log(0.002), 0.6),
               ok, None if ok else "unavailable", rng.random() if rng.random() < 0.05 else None,
               f"bench-{i}", 0)


def build(store, *, rows: int, rollouts: int, seed: int) -> None:
    from modelctl.core.catalog import ModelSpec
    from modelctl.services import upgrade
    from modelctl.store import catalog as catalog_repo
    from modelctl.store import rollouts as repo
    from modelctl.store.usage import insert_usage

    caps = frozenset({"text_generation"})
    with store.write() as conn:
        catalog_repo.upsert_models(conn, [
            ModelSpec(f"bench-{role}-{k}", "openai", status=status, capabilities=caps)
            for k in range(rollouts) for role, status in (("inc", "stable"), ("cand", "candidate"))
        ], now=START)
    for k in range(rollouts):
        upgrade.promote(store, f"bench-cand-{k}", replaces=f"bench-inc-{k}", segments=(f"bench-{k}",),
                        to="canary", yes=True)
    started = START + SPAN - CANARY_FOR
    with store.write() as conn:
        for rollout in repo.list_rollouts(store, phases=("canary",)):
            repo.update_rollout(conn, rollout.id, expected_phase="canary", phase="canary", traffic_pct=10,
                                phase_started_at=started, decided_at=None, reason="bench")
    rng = random.Random(seed)
    batch = []
    for row in _rows(rng, rows, rollouts):
        batch.append(row)
        if len(batch) == BATCH:
            with store.write() as conn:
                insert_usage(conn, batch)
            batch = []
    if batch:
        with store.write() as conn:
            insert_usage(conn, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rollouts", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="bench-tick-")
    os.environ["MODELCTL_HOME"] = home
    os.environ["MODELCTL_NOW"] = (START + SPAN).isoformat()
    from modelctl.services import upgrade
    from modelctl.services.database import open_database

    store = open_database()
    t0 = time.perf_counter()
    build(store, rows=args.rows, rollouts=args.rollouts, seed=args.seed)
    print(f"store: {args.rows:,} usage rows, {args.rollouts} canary rollouts, built in "
          f"{time.perf_counter() - t0:.0f} s ({home})")
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        report = upgrade.tick(store)
        times.append(time.perf_counter() - t)
        assert len(report.transitions) == args.rollouts, report.as_dict()
    actions = sorted({t.action for t in report.transitions})
    print(f"upgrade tick: median {statistics.median(times):.2f} s, runs "
          f"{', '.join(f'{s:.2f}' for s in times)} (target <= 2 s); actions {actions}")


if __name__ == "__main__":
    main()
