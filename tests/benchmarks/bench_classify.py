"""Accuracy and speed of modelctl.core.classify over the labelled data.

Run: python tests/benchmarks/bench_classify.py [--misses]

Prints, per split (tune, holdout): query_type and complexity accuracy and a confusion matrix;
then the median microseconds per classify() over every labelled query, over 200-character
queries, and a calibration figure for the machine (sum(range(1000))), so numbers from different
machines can be compared.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a plain script from anywhere

from modelctl.core.catalog import QUERY_TYPES
from modelctl.core.classify import classify

ROOT = Path(__file__).resolve().parents[2]

DATA = ROOT / "tests" / "data"
SPLITS = ("tune", "holdout")
# 200-character queries of each kind, for the "< 50 µs median at 200 chars" target
QUERIES_200 = (
    "My docker container exits immediately with code 137 when I run the nightly batch job; what "
    "does that mean and how do I find out which process is using so much memory? I am running it "
    "on Ubuntu 22.04.",
    "Compare the healthcare systems of Germany, Canada and the United States in terms of cost, "
    "outcomes, access and wait times, and explain which reforms have worked best in the last "
    "twenty years.",
    "Can you help me write a short, friendly note to my neighbours inviting them to a small garden "
    "party next Saturday afternoon? Mention there will be food, music, and that kids and dogs are welcome.",
    "Here is the chart from our quarterly review: https://example.com/reports/q3/revenue_by_region"
    ".png. Which region grew fastest, and is the dip in August visible in the other three regions too?",
)


def load(split: str) -> list[dict]:
    with open(DATA / f"classify_{split}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def report_split(split: str, rows: list[dict], show_misses: bool) -> None:
    confusion = {t: dict.fromkeys(QUERY_TYPES, 0) for t in QUERY_TYPES}
    type_ok = complexity_ok = 0
    misses = []
    for row in rows:
        c = classify(row["query"], row["attachments"])
        confusion[row["query_type"]][c.query_type] += 1
        type_ok += c.query_type == row["query_type"]
        complexity_ok += c.complexity == row["complexity"]
        if c.query_type != row["query_type"]:
            misses.append(f"    {row['query_type']:>10} -> {c.query_type:<10} {row['query'][:70]!r}")
    n = len(rows)
    print(f"\n{split}: n={n}  query_type accuracy {type_ok / n:.3f} ({type_ok}/{n})"
          f"  complexity accuracy {complexity_ok / n:.3f} ({complexity_ok}/{n})")
    width = max(map(len, QUERY_TYPES)) + 2
    print("  labelled \\ predicted".ljust(width + 12) + "".join(t[:10].rjust(12) for t in QUERY_TYPES))
    for label in QUERY_TYPES:
        cells = "".join(str(confusion[label][p]).rjust(12) for p in QUERY_TYPES)
        print(f"  {label:<{width + 10}}{cells}")
    if show_misses and misses:
        print("  misses:")
        print("\n".join(misses))


def median_us(queries: list[tuple[str, list[str]]], rounds: int) -> float:
    """Median over queries of the best-of-`rounds` mean time per call, in µs."""
    per_query = []
    for query, attachments in queries:
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter_ns()
            for _ in range(20):
                classify(query, attachments)
            best = min(best, (time.perf_counter_ns() - started) / 20)
        per_query.append(best / 1000)
    return statistics.median(per_query)


def main() -> None:
    show_misses = "--misses" in sys.argv
    data = {split: load(split) for split in SPLITS}
    for split in SPLITS:
        report_split(split, data[split], show_misses)

    every = [(r["query"], r["attachments"]) for split in SPLITS for r in data[split]]
    lengths = sorted(len(q) for q, _ in every)
    print("\ntiming (median over queries of best-of-5 mean per call):")
    print(f"  all {len(every)} labelled queries (median length {lengths[len(lengths) // 2]} chars): "
          f"{median_us(every, 5):.1f} µs")
    at_200 = median_us([(q, []) for q in QUERIES_200], 5)
    print(f"  {len(QUERIES_200)} queries of ~200 chars: {at_200:.1f} µs")
    started = time.perf_counter_ns()
    for _ in range(2000):
        sum(range(1000))
    calibration = (time.perf_counter_ns() - started) / 2000 / 1000
    print(f"  machine calibration, sum(range(1000)): {calibration:.1f} µs"
          " (about 8-10 µs on a current desktop)")


if __name__ == "__main__":
    main()
