"""Benchmark: learned routing quality/cost on real per-prompt outcomes, batch throughput, cold start.

Run by hand (not part of the test suite), from the repository root:

    python tests/benchmarks/bench_routing.py [--bench ../shared/reference/routing-bench] [--runs 15]

1. Quality and cost (routing-bench, see its README): the 9 models are imported with the prices of
   llm_candidates.json, the train split's scores with segment = task name, then the test split is
   routed through `modelctl route --batch` with segment = task name and objective cost at several R.
   Cost per prompt uses the bench's model: tokens_in = len(question)/4, tokens_out = 200.
2. Throughput: `route --batch` of 100,000 queries, JSON in and out (a file each), whole process, with --workers 1
   and 2 interleaved (medians), and the load average.
3. Cold start: median of `modelctl route "What is the capital of France?" --json` against a trivial
   one-command typer app that prints "ok", interleaved by hyperfine in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RATIOS = (1.0, 0.98, 0.95, 0.94, 0.93, 0.92, 0.91, 0.9, 0.8)
WEIGHTS = (0.05, 0.1, 0.12, 0.15, 0.18, 0.2, 0.3)
TOKENS_OUT = 200


def load_bench(bench: Path):
    prices = {name: (c["input_price"], c["output_price"])
              for name, c in json.loads((bench / "llm_candidates.json").read_text()).items()}

    def split(name: str):
        tasks = {}
        for line in (bench / f"query_tasks_{name}.jsonl").read_text(encoding="utf-8").split("\n"):
            if line.strip():
                record = json.loads(line)
                tasks[record["query"].strip()] = record["task_name"]
        prompts = json.loads((bench / f"dcrouter_{name}.json").read_text())
        return [(p["question"], tasks[p["question"].strip()], p["scores"]) for p in prompts]

    return prices, split("train"), split("test")


def cost(question: str, model: str, prices) -> float:
    price_in, price_out = prices[model]
    return len(question) / 4 * price_in / 1e6 + TOKENS_OUT * price_out / 1e6


def run(args: list[str], env: dict, stdin: str | None = None) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, env=env)
    if done.returncode not in (0,):
        raise SystemExit(f"{' '.join(args[:3])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def quality_and_cost(modelctl: str, env: dict, bench: Path) -> None:
    prices, train, test = load_bench(bench)
    models = sorted(train[0][2])
    catalog = {"models": [{
        "model_id": m, "provider": "openrouter", "capabilities": {"text_generation": True},
        "costs": {"input_tokens_per_1k": prices[m][0] / 1000, "output_tokens_per_1k": prices[m][1] / 1000},
    } for m in models]}
    catalog_file = Path(env["HOME"]) / "bench-models.json"
    catalog_file.write_text(json.dumps(catalog))
    run([modelctl, "models", "import", str(catalog_file)], env)
    scores = "".join(
        json.dumps({"model_id": m, "segment": task, "score": s, "cost_usd": cost(q, m, prices)}) + "\n"
        for q, task, outcome in train for m, s in outcome.items()
    )
    run([modelctl, "eval", "import", "-"], env, scores)

    batch = "".join(json.dumps({"id": i, "query": q, "segment": task}) + "\n" for i, (q, task, _) in enumerate(test))
    print(f"routing-bench test split: {len(test)} prompts, {len(models)} models, learned on {len(train)} train prompts")
    print(f"{'policy':<44} {'quality':>8} {'cost $/1k prompts':>18}")
    for m in models:
        q = sum(o[m] for _, _, o in test) / len(test)
        c = sum(cost(question, m, prices) for question, _, _ in test) / len(test) * 1000
        print(f"{'single: ' + m:<44} {q:8.3f} {c:18.3f}")
    runs = [(f"objective cost, R = {r}", ["--objective", "cost", "--min-quality-ratio", str(r)]) for r in RATIOS]
    runs += [(f"objective value, W = {w}", ["--objective", "value", "--cost-weight", str(w)]) for w in WEIGHTS]
    for label, options in runs:
        out = run([modelctl, "route", "--batch", "-", *options, "--ignore-keys"], env, batch)
        chosen = [json.loads(line).get("model_id") for line in out.splitlines()]
        unknown = sum(1 for m in chosen if m not in models)
        q = sum(o.get(m, 0.0) for m, (_, _, o) in zip(chosen, test, strict=True)) / len(test)
        c = sum(cost(question, m, prices) if m in prices else 0.0
                for m, (question, _, _) in zip(chosen, test, strict=True))
        note = f"  ({unknown} routed outside the bench models)" if unknown else ""
        print(f"{'modelctl ' + label:<44} {q:8.3f} {c / len(test) * 1000:18.3f}{note}")


def throughput(modelctl: str, env: dict, bench: Path, n: int, runs: int) -> None:
    """Medians of `runs` interleaved runs with --workers 1 and 2, and the load average around them
    (the machine is shared, so a figure without its load says little)."""
    import statistics

    _, train, test = load_bench(bench)
    # route rejects control characters (exit 2 for that line); a throughput run feeds valid queries
    control = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
    queries = [q for q, _, _ in train + test if not control.search(q[:2000])]
    work = Path(env["HOME"])
    batch, decisions = work / "batch.jsonl", work / "decisions.jsonl"
    batch.write_text("".join(json.dumps({"id": i, "query": queries[i % len(queries)][:2000]}) + "\n" for i in range(n)))
    run([modelctl, "route", "warm the routing-config cache", "--ignore-keys"], env)
    seconds: dict[int, list[float]] = {1: [], 2: []}
    loads = [os.getloadavg()[0]]
    for _ in range(runs):
        for workers in seconds:
            # file in, file out, as a gateway's batch job runs it: a pipe read by this process
            # would time this process's reading too (150 MB of decisions, on the same two CPUs)
            with decisions.open("wb") as out:
                start = time.perf_counter()
                subprocess.run([modelctl, "route", "--batch", str(batch), "--ignore-keys", "--workers", str(workers)],
                               env=env, stdout=out, check=True)
                seconds[workers].append(time.perf_counter() - start)
            with decisions.open("rb") as out:
                assert sum(1 for _ in out) == n
            loads.append(os.getloadavg()[0])
    for workers, times in seconds.items():
        median = statistics.median(times)
        print(f"route --batch --workers {workers}: {n:,} decisions in {median:.1f} s = {n / median:,.0f} decisions/s "
              f"(whole process, median of {runs})")
    print(f"load average (1 min) during the runs: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} CPUs")


def cold_start(modelctl: str, env: dict, runs: int, work: Path) -> None:
    app = work / "trivial_typer.py"
    app.write_text("import typer\napp = typer.Typer()\n\n\n@app.command()\ndef main() -> None:\n"
                   "    print('ok')\n\n\napp()\n")
    export = work / "hyperfine.json"
    subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", str(export),
                    "-n", "typer ok", f"{sys.executable} {app}",
                    "-n", "route", f"{modelctl} route 'What is the capital of France?' --json"],
                   check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    medians = {r["command"]: r["median"] for r in json.loads(export.read_text())["results"]}
    print(f"cold start: route median {medians['route'] * 1000:.0f} ms, trivial typer app "
          f"{medians['typer ok'] * 1000:.0f} ms, ratio {medians['route'] / medians['typer ok']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path,
                        default=Path(__file__).resolve().parents[3] / "shared/reference/routing-bench")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=100_000)
    parser.add_argument("--throughput-runs", type=int, default=3)
    parser.add_argument("--only", choices=["quality", "throughput", "cold"], default=None)
    args = parser.parse_args()
    modelctl = shutil.which("modelctl") or str(Path(sys.executable).parent / "modelctl")
    work = Path(tempfile.mkdtemp(prefix="modelctl-bench-"))
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "MODELCTL_HOME": str(work / "home"),
           "HOME": str(work)}
    if "PYTHONPATH" in os.environ:  # measure a work tree other than the installed one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    try:
        tree = Path(os.environ.get("PYTHONPATH") or Path(__file__).resolve().parents[2])
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "modelctl")],
                       check=True, env=env)  # what `pip install` does for an installed package
        run([modelctl, "init"], env)
        if args.only in (None, "quality"):
            quality_and_cost(modelctl, env, args.bench)
        if args.only in (None, "throughput"):
            throughput(modelctl, env, args.bench, args.batch_size, args.throughput_runs)
        if args.only in (None, "cold"):
            cold_start(modelctl, env, args.runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
