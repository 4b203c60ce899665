"""Benchmark: `modelctl prices sync` of the full LiteLLM map into a catalog of 100 models (target <= 2 s).

Run by hand (not part of the test suite):

    python tests/benchmarks/bench_prices_sync.py [--runs 5] [--map PATH]

Builds a catalog of 100 models in a temporary home (the bundled ones plus chat entries of the map
imported at stale prices, so the sync has real work: every imported model changes), then times
the real CLI in a subprocess, start to exit, for each run on a fresh copy of that database.
Prints the median and the worst run, the count of models changed, and two baselines measured the
same way on the same machine: the cold start of `modelctl models list --json` and of
`python -c "import sqlalchemy"` (every write imports it), so figures from a loaded machine can
be read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MAP = Path("/work/shared/reference/pricing/litellm_model_prices.json")
PROVIDERS = ("openai", "anthropic", "ollama", "openrouter")
CATALOG_SIZE = 100


def modelctl(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MODELCTL_HOME": str(home)}
    env.pop("MODELCTL_DATABASE_URL", None)
    env.pop("MODELCTL_CONFIG_DIR", None)
    done = subprocess.run([sys.executable, "-m", "modelctl", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"modelctl {' '.join(args)} failed:\n{done.stderr}")
    return done


def stale_entries(price_map: dict, known: set[str]) -> dict:
    """Chat entries of our providers at half their price, enough to fill the catalog to 100."""
    picked, ids = {}, set(known)
    for key, entry in price_map.items():
        if len(ids) >= CATALOG_SIZE:
            break
        if not isinstance(entry, dict) or entry.get("mode") != "chat":
            continue
        provider = entry.get("litellm_provider")
        model_id = key.removeprefix(f"{provider}/")
        if provider not in PROVIDERS or not entry.get("input_cost_per_token") or model_id in ids:
            continue
        ids.add(model_id)
        picked[key] = {**entry, "input_cost_per_token": entry["input_cost_per_token"] / 2}
    return picked


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, env=env, cwd=ROOT, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--map", type=Path, default=DEFAULT_MAP)
    args = parser.parse_args()
    price_map = json.loads(args.map.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        bundled = {m["model_id"] for m in json.loads(modelctl(base, "models", "list", "--json").stdout)}
        stale = Path(tmp) / "stale.json"
        stale.write_text(json.dumps(stale_entries(price_map, bundled)))
        modelctl(base, "models", "import", str(stale), "--format", "litellm")
        catalog = len(json.loads(modelctl(base, "models", "list", "--json").stdout))
        times, changed = [], 0
        for run in range(args.runs):
            home = Path(tmp) / f"run{run}"
            shutil.copytree(base, home)
            start = time.perf_counter()
            done = modelctl(home, "prices", "sync", str(args.map), "--json")
            times.append(time.perf_counter() - start)
            changed = len(json.loads(done.stdout)["changed"])
        env = {**os.environ, "MODELCTL_HOME": str(base)}
        cold = [timed([sys.executable, "-m", "modelctl", "models", "list", "--json"], env)
                for _ in range(args.runs)]
        sqla = [timed([sys.executable, "-c", "import sqlalchemy"], env) for _ in range(args.runs)]
    entries = sum(1 for key in price_map if key != "sample_spec")
    print(f"prices sync: {entries} map entries into a catalog of {catalog} models, {changed} changed")
    print(f"  wall time per run (subprocess, start to exit), {args.runs} runs: "
          f"median {statistics.median(times):.3f} s, worst {max(times):.3f} s (target <= 2 s)")
    print(f"  baselines, medians: `modelctl models list --json` {statistics.median(cold):.3f} s, "
          f"`python -c 'import sqlalchemy'` {statistics.median(sqla):.3f} s")


if __name__ == "__main__":
    main()
