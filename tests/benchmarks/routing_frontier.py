"""Every cost/quality point objective cost can reach on routing-bench, and what per-task routing could.

Run by hand (not part of the test suite), from the repository root:

    python tests/benchmarks/routing_frontier.py [--bench ../shared/reference/routing-bench]

bench_routing.py routes the test split through `modelctl route --batch` at a handful of R. This
sweeps R from 1.000 down to 0.800 in steps of 0.001 (and the LCB's z) without the CLI: with
segment = task name, objective cost gives one model per task, the cheapest whose quality LCB
(modelctl.core.quality.estimate over the train scores) is at least R x the best LCB of the task,
ties by LCB. The bench's prices are equal for input and output, so the cheapest model of a task
does not depend on the prompt's length. Each distinct selection is printed once, with its test
quality and cost; at the R that bench_routing.py runs, the figures equal the CLI's.

Last, an upper bound no router can claim: the best one-model-per-task assignment chosen by looking
at the test split itself, under the target's cost cap.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench_routing import cost, load_bench

from modelctl.core.quality import DEFAULT_Z, estimate

TARGET_COST_SHARE = 0.35


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path,
                        default=Path(__file__).resolve().parents[3] / "shared/reference/routing-bench")
    args = parser.parse_args()
    prices, train, test = load_bench(args.bench)
    models = sorted(train[0][2])
    tasks = sorted({task for _, task, _ in test})
    sums: dict[tuple[str, str], list[float]] = {}
    for _, task, scores in train:
        for m, s in scores.items():
            acc = sums.setdefault((task, m), [0.0, 0.0, 0])
            acc[0], acc[1], acc[2] = acc[0] + s, acc[1] + s * s, acc[2] + 1
    per_task_quality = {(t, m): 0.0 for t in tasks for m in models}
    per_task_cost = dict(per_task_quality)
    for question, task, scores in test:
        for m in models:
            per_task_quality[(task, m)] += scores[m] / len(test)
            per_task_cost[(task, m)] += cost(question, m, prices) * 1000 / len(test)

    def evaluate(pick: dict[str, str]) -> tuple[float, float]:
        return (sum(per_task_quality[(t, m)] for t, m in pick.items()),
                sum(per_task_cost[(t, m)] for t, m in pick.items()))

    best_single = max(models, key=lambda m: evaluate(dict.fromkeys(tasks, m))[0])
    bar_quality, bar_cost = evaluate(dict.fromkeys(tasks, best_single))
    cap = TARGET_COST_SHARE * bar_cost
    print(f"best single model {best_single}: quality {bar_quality:.4f} at ${bar_cost:.4f}/1k prompts; "
          f"target: quality >= {bar_quality:.4f} at <= ${cap:.4f} ({TARGET_COST_SHARE:.0%})")
    for z in (DEFAULT_Z, 1.0, 0.0):
        lcb = {key: estimate(s, sq, n, z=z).lcb for key, (s, sq, n) in sums.items()}
        seen = set()
        print(f"\nobjective cost, z = {z}: R at which the selection changes, test quality, cost")
        for step in range(201):
            ratio = 1 - step / 1000
            pick = {}
            for t in tasks:
                best = max(lcb[(t, m)] for m in models)
                within = [m for m in models if lcb[(t, m)] >= ratio * best]
                pick[t] = min(within, key=lambda m: (prices[m][0] + prices[m][1], -lcb[(t, m)]))
            key = tuple(sorted(pick.items()))
            if key not in seen:
                seen.add(key)
                q, c = evaluate(pick)
                hit = "  meets the target" if q >= bar_quality and c <= cap else ""
                print(f"  R = {ratio:.3f}  quality {q:.4f}  cost ${c:.4f} ({c / bar_cost:.0%}){hit}")

    # Pareto frontier over one-model-per-task assignments, task by task
    frontier = [(0.0, 0.0)]
    for t in tasks:
        points = sorted((c + per_task_cost[(t, m)], q + per_task_quality[(t, m)]) for c, q in frontier for m in models)
        frontier, best_q = [], -1.0
        for c, q in points:
            if q > best_q:
                frontier.append((c, q))
                best_q = q
    c, q = max((p for p in frontier if p[0] <= cap), key=lambda p: p[1])
    print(f"\nupper bound (assignment chosen on the test split): quality {q:.4f} at ${c:.4f} ({c / bar_cost:.0%})")


if __name__ == "__main__":
    main()
