"""Benchmark: usage import throughput, stats latency, and cold start of `models list --json`.

Run by hand (not part of the test suite):

    python tests/benchmarks/bench_usage.py [--rows 1000000] [--runs 7]

Generates seeded usage (8 models, 4 segments, spread over 30 days, unique request ids), imports it
through the real CLI in a subprocess, then times `stats --by model` and the cold start of
`modelctl models list --json` next to `python -c "import typer"`, with hyperfine when it is
installed (medians of interleaved runs), else with a small loop of our own.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ["gpt-4o-2024-08-06", "claude-sonnet-5-5", "llama3.1:8b", "gpt-6-luna", "claude-haiku-5-5",
          "gpt-5.4-mini-2026-03-17", "gpt-6.1-sol", "claude-opus-5-5"]
SEGMENTS = ["simple", "technical", "research", "multimedia"]


def write_usage(path: Path, rows: int, *, seed: int = 7) -> None:
    rng = random.Random(seed)
    seconds = 30 * 86400
    with path.open("w") as out:
        for i in range(rows):
            offset = i * seconds // rows
            day, rest = divmod(offset, 86400)
            out.write(json.dumps({
                "model_id": rng.choice(MODELS),
                "latency_ms": round(rng.lognormvariate(7, 0.6), 1),
                "ttft_ms": round(rng.lognormvariate(5.5, 0.5), 1),
                "tokens_in": rng.randint(10, 2000),
                "tokens_out": rng.randint(10, 1500),
                "success": rng.random() < 0.97,
                "segment": rng.choice(SEGMENTS),
                "request_id": f"req-{i:09d}",
                "ts": f"2026-10-{day + 1:02d}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}Z",
            }) + "\n")


def median_seconds(command: list[str], runs: int, env: dict) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def hyperfine(commands: dict[str, str], runs: int, env: dict, export: Path) -> dict[str, float]:
    args = ["hyperfine", "-N", "--warmup", "2", "--runs", str(runs), "--export-json", str(export)]
    for name, command in commands.items():
        args += ["-n", name, command]
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)
    return {r["command"]: r["median"] for r in json.loads(export.read_text())["results"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    modelctl = shutil.which("modelctl") or str(Path(sys.executable).parent / "modelctl")
    work = Path(tempfile.mkdtemp(prefix="modelctl-bench-"))
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "MODELCTL_HOME": str(work / "home"),
           "HOME": str(work), "MODELCTL_NOW": "2026-10-31T00:00:00Z"}
    try:
        data = work / "usage.jsonl"
        write_usage(data, args.rows)
        subprocess.run([modelctl, "init"], check=True, capture_output=True, env=env)
        start = time.perf_counter()
        subprocess.run([modelctl, "usage", "import", str(data)], check=True, capture_output=True, env=env)
        seconds = time.perf_counter() - start
        print(f"usage import: {args.rows:,} rows in {seconds:.1f} s = {args.rows / seconds:,.0f} rows/s "
              "(whole process, start-up included)")

        stats = median_seconds([modelctl, "stats", "--by", "model", "--json"], args.runs, env)
        print(f"stats --by model over {args.rows:,} rows: median {stats:.3f} s of {args.runs} runs (whole process)")

        commands = {"import typer": f"{sys.executable} -c 'import typer'",
                    "models list --json": f"{modelctl} models list --json"}
        if shutil.which("hyperfine"):
            medians = hyperfine(commands, args.runs * 3, env, work / "hf.json")
        else:
            medians = {name: median_seconds(shlex.split(cmd), args.runs * 3, env) for name, cmd in commands.items()}
        ratio = medians["models list --json"] / medians["import typer"]
        print(f"cold start: models list --json median {medians['models list --json'] * 1000:.0f} ms, "
              f"python -c 'import typer' {medians['import typer'] * 1000:.0f} ms, ratio {ratio:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
