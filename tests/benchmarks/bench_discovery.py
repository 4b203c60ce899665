"""Benchmark: `modelctl discover` of 5 providers with 1,000 models each from loopback fakes (target <= 3 s).

Run by hand (not part of the test suite), from the repository root:

    python tests/benchmarks/bench_discovery.py [--models 1000] [--runs 3]

Starts the five fake provider servers of tests/fakes in this process, each listing `--models`
models in its own wire shape (dated ids, so every one becomes a candidate and the write path is
exercised in full), and runs the real CLI in a subprocess on a fresh home per run. Prints the wall
time per run (start to exit), how many candidates were written, and two baselines from the same
machine: the cold start of `modelctl models list --json`, and `python -c "import anthropic, openai"`
(every discover that reaches those providers imports their SDKs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for tests.*

from tests.fakes.anthropic_wire import AnthropicFake
from tests.fakes.openai_wire import HuggingFaceFake, OllamaFake, OpenAIFake, OpenRouterFake

ROOT = Path(__file__).resolve().parents[2]


def model_lists(n: int) -> dict[str, list[dict]]:
    sha = "5f0c1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b"
    return {
        "openai": [{"id": f"gpt-bench-{i}-2026-10-01", "object": "model", "created": 1, "owned_by": "system"}
                   for i in range(n)],
        "anthropic": [{"id": f"claude-bench-{i}-20261001", "type": "model", "display_name": f"Bench {i}",
                       "created_at": "2026-10-01T00:00:00Z", "max_input_tokens": 200000, "max_tokens": 64000}
                      for i in range(n)],
        "ollama": [{"name": f"bench{i}:8b", "model": f"bench{i}:8b", "digest": f"{i:064x}",
                    "details": {"family": "llama", "families": ["llama"]}} for i in range(n)],
        "huggingface": [{"id": f"bench-org/chat-{i}", "pipeline_tag": "text-generation", "sha": sha}
                        for i in range(n)],
        "openrouter": [{"id": f"bench/model-{i}-2026-10-01", "name": f"Bench {i}", "context_length": 131072,
                        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
                        "pricing": {"prompt": "0.000001", "completion": "0.000002"}} for i in range(n)],
    }


def timed(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return elapsed, done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    fakes = {"openai": OpenAIFake(), "anthropic": AnthropicFake(), "ollama": OllamaFake(),
             "huggingface": HuggingFaceFake(), "openrouter": OpenRouterFake()}
    try:
        for name, models in model_lists(args.models).items():
            fakes[name].set_models(models)
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config"
            config.mkdir()
            (config / "providers.yaml").write_text(
                "providers:\n"
                f"  openai: {{kind: openai, api_key_env: OPENAI_API_KEY, base_url: '{fakes['openai'].base_url}/v1'}}\n"
                f"  anthropic: {{kind: anthropic, api_key_env: ANTHROPIC_API_KEY,"
                f" base_url: '{fakes['anthropic'].base_url}'}}\n"
                f"  ollama: {{kind: ollama, base_url: '{fakes['ollama'].base_url}'}}\n"
                f"  huggingface: {{kind: huggingface, list_url: '{fakes['huggingface'].base_url}/api/models'}}\n"
                f"  openrouter: {{kind: openrouter, base_url: '{fakes['openrouter'].base_url}/api/v1'}}\n"
            )
            (config / "discovery.yaml").write_text(f"limit: {args.models}\ntimeout_s: 60\n")
            env = {**os.environ, "MODELCTL_CONFIG_DIR": str(config), "OPENAI_API_KEY": "sk-bench",
                   "ANTHROPIC_API_KEY": "sk-ant-bench"}
            env.pop("MODELCTL_DATABASE_URL", None)
            times, written = [], 0
            for run in range(args.runs):
                env["MODELCTL_HOME"] = str(Path(tmp) / f"run{run}")
                timed([sys.executable, "-m", "modelctl", "models", "list", "--json"], env)  # create the db
                elapsed, done = timed([sys.executable, "-m", "modelctl", "discover", "--json"], env)
                times.append(elapsed)
                report = json.loads(done.stdout)
                failed = [p["provider"] for p in report["providers"] if p["error"]]
                if failed:
                    sys.exit(f"providers failed: {failed}")
                written = sum(p["new"] for p in report["providers"])
            cold = [timed([sys.executable, "-m", "modelctl", "models", "list", "--json"], env)[0]
                    for _ in range(args.runs)]
            sdks = [timed([sys.executable, "-c", "import anthropic, openai"], env)[0] for _ in range(args.runs)]
    finally:
        for fake in fakes.values():
            fake.close()
    print(f"discover: 5 providers x {args.models} models from loopback fakes, {written} candidates written")
    print(f"  wall time per run (subprocess, start to exit), {args.runs} runs: "
          f"median {statistics.median(times):.3f} s, worst {max(times):.3f} s (target <= 3 s)")
    print(f"  baselines, medians: `modelctl models list --json` {statistics.median(cold):.3f} s, "
          f"`python -c 'import anthropic, openai'` {statistics.median(sdks):.3f} s")


if __name__ == "__main__":
    main()
