"""Benchmark: POST /route latency of `modelctl serve` on loopback under an open-loop load.

Run by hand (not part of the test suite), from the repository root:

    python tests/benchmarks/bench_serve.py [--rate 200] [--seconds 30] [--step-seconds 10] [--workers 1]

The server runs in its own process (`modelctl serve --port 0`, a fresh home, the bundled
catalog); the load generator here sends the holdout queries of tests/data (all but the one empty
query) round-robin, each request with its own request id, over keep-alive connections from a fixed
pool of threads.

Open loop: request k is due at start + k / rate whatever happened before it, and its latency is
measured from that due time, so a server that falls behind is charged for the queue it causes
(no coordinated omission). Two phases:

1. `--rate` requests/s for `--seconds`: p50, p90, p99, max.
2. The maximum sustained rate: rates stepped up for `--step-seconds` each until p99 reaches
   50 ms or fewer than 97% of the due requests complete in time; the last rate that held is it.

The client and server share this machine's cores; the figures include both sides' cost.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THREADS = 32
STEPS = (200, 250, 300, 350, 400, 500, 600, 800, 1000, 1200, 1500, 2000)


def start_server(home: Path, workers: int = 1) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "MODELCTL_HOME": str(home)}
    env.pop("MODELCTL_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "modelctl", "serve", "--port", "0", "--json", "--log-level", "warning",
         "--rate-limit", "1000000", "--burst", "1000000", "--workers", str(workers)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"the server did not start: {process.stderr.read()[-2000:]}")
    return process, json.loads(line)["urls"][0]


def bodies() -> list[bytes]:
    lines = (ROOT / "tests" / "data" / "classify_holdout.jsonl").read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        record = json.loads(line) if line.strip() else {"query": ""}
        if record["query"].strip():  # an empty query is refused (422), as `modelctl route` refuses it
            context = {"files": record["attachments"]} if record["attachments"] else {}
            out.append({"query": record["query"], "context": context})
    return [json.dumps(body).encode() for body in out]


def load(url: str, payloads: list[bytes], *, rate: float, seconds: float) -> dict[str, float]:
    """Open-loop load; latencies in ms from each request's due time."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.perf_counter() + 0.2

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        mine = []
        for k in range(index, total, THREADS):
            due = start + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body = payloads[k % len(payloads)].replace(b'{"query"', f'{{"request_id": "b{k}", "query"'.encode(), 1)
            conn.request("POST", "/route", body=body, headers={"content-type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                with lock:
                    errors[0] += 1
            mine.append((time.perf_counter() - due) * 1000)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {"rate": rate, "requests": len(latencies), "errors": errors[0], "achieved": len(latencies) / elapsed,
            "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": latencies[-1],
            "mean": statistics.fmean(latencies)}


def show(result: dict[str, float]) -> None:
    print(f"  {result['rate']:>6.0f} req/s target, {result['achieved']:>7.1f} achieved, {result['requests']:>6} "
          f"requests, {result['errors']} errors: p50 {result['p50']:.2f} ms, p90 {result['p90']:.2f} ms, "
          f"p99 {result['p99']:.2f} ms, max {result['max']:.1f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--step-seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1, help="serve --workers")
    args = parser.parse_args()

    payloads = bodies()
    with tempfile.TemporaryDirectory() as home:
        process, url = start_server(Path(home), args.workers)
        try:
            load(url, payloads, rate=100, seconds=2)  # warm up: routing state cached, connections open
            print(f"POST /route on {url} ({args.workers} server processes), {len(payloads)} distinct queries, "
                  f"{THREADS} keep-alive client threads, {os.cpu_count()} CPUs shared by client and server")
            print(f"1. {args.rate:g} req/s for {args.seconds:g} s:")
            show(load(url, payloads, rate=args.rate, seconds=args.seconds))
            print(f"2. stepping up, {args.step_seconds:g} s per rate, until p99 >= 50 ms:")
            sustained = None
            for rate in STEPS:
                result = load(url, payloads, rate=rate, seconds=args.step_seconds)
                show(result)
                if result["p99"] >= 50 or result["achieved"] < 0.97 * rate or result["errors"]:
                    break
                sustained = rate
            print(f"maximum sustained rate with p99 < 50 ms: {sustained or 'below ' + str(STEPS[0])} req/s")
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
