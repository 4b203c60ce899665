"""What `modelctl run` adds on top of the provider call: routing, the store, usage and health writes.

Run: python tests/benchmarks/bench_run_overhead.py [--calls N]

One process, one loopback fake OpenAI server, imports and first calls done before timing. Each
round makes one direct SDK call (the same `openai` client settings the adapter uses) and one
`run_query` through the service, in alternating order, so drift on a shared machine hits both.
Prints p50 and p95 in ms of each, and of the paired difference (run minus direct) twice: until
the answer is delivered (the `deliver` callback; the usage row and health update are written
after it) and until `run_query` returns. The issue's target is p50 overhead <= 3 ms; LiteLLM
publishes 2 ms p50 / 8 ms p95 for its proxy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a plain script from anywhere

QUERY = "What is the capital of France?"
MODEL = "gpt-4o-2024-08-06"  # what the simple segment routes to with only an OpenAI key


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="modelctl-bench-")
    os.environ["MODELCTL_HOME"] = home
    for name in ("MODELCTL_DATABASE_URL", "MODELCTL_CONFIG_DIR", "MODELCTL_NOW", "ANTHROPIC_API_KEY",
                 "HF_TOKEN", "OPENROUTER_API_KEY"):
        os.environ.pop(name, None)

    import httpx2
    import openai

    from modelctl.services.database import open_database
    from modelctl.services.run import run_query
    from tests.fakes.openai_wire import OpenAIFake

    fake = OpenAIFake()
    os.environ["OPENAI_BASE_URL"] = fake.base_url + "/v1"
    os.environ["OPENAI_API_KEY"] = "sk-bench-not-a-real-key"
    os.environ["OLLAMA_HOST"] = fake.base_url
    direct_client = openai.OpenAI(api_key="sk-bench-not-a-real-key", base_url=fake.base_url + "/v1",
                                  max_retries=0, http_client=httpx2.Client())
    store = open_database()

    def direct() -> None:
        direct_client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": QUERY}], timeout=5.0)

    delivered: list[float] = []

    def service() -> None:
        result = run_query(store, QUERY, deliver=lambda _: delivered.append(time.perf_counter()))
        assert result.model_id == MODEL and len(result.attempts) == 1, result

    for _ in range(20):  # first calls: lazy SDK resources, connection pools, the routing-config cache
        direct()
        service()

    direct_ms: list[float] = []
    answer_ms: list[float] = []
    run_ms: list[float] = []
    for i in range(args.calls):
        pair = (direct, service) if i % 2 == 0 else (service, direct)
        for call in pair:
            start = time.perf_counter()
            call()
            end = time.perf_counter()
            if call is direct:
                direct_ms.append((end - start) * 1000)
            else:
                answer_ms.append((delivered[-1] - start) * 1000)
                run_ms.append((end - start) * 1000)
    fake.close()

    to_answer = [a - d for a, d in zip(answer_ms, direct_ms, strict=True)]
    added = [r - d for r, d in zip(run_ms, direct_ms, strict=True)]
    rows = store.read("SELECT COUNT(*) FROM usage")[0][0]
    print(f"{args.calls} calls each, loopback fake OpenAI server, one process, imports excluded")
    print(f"{'':<34}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    for label, values in (("direct SDK call", direct_ms), ("run_query, answer delivered", answer_ms),
                          ("run_query, returned", run_ms), ("added before the answer (paired)", to_answer),
                          ("added in all (paired)", added)):
        print(f"{label:<34}{_percentile(values, 0.50):>10.2f}{_percentile(values, 0.95):>10.2f}"
              f"{statistics.fmean(values):>10.2f}")
    print(f"p50(run) - p50(direct): {_percentile(run_ms, 0.5) - _percentile(direct_ms, 0.5):.2f} ms; "
          f"usage rows written: {rows}")


if __name__ == "__main__":
    main()
