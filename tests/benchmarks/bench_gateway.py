"""Benchmark: what the OpenAI-compatible gateway adds over calling the provider directly.

Run by hand (not part of the test suite), from the repository root:

    python tests/benchmarks/bench_gateway.py [--rate 200] [--seconds 20] [--streams 500] [--soak-seconds 600]
        [--workers 1] [--phases overhead,ttfb,rest,concurrent,soak]

Two processes besides this one: the OpenAI fake (tests/fakes, its own process) and `modelctl serve
--port 0` (a fresh home, the bundled catalog, OPENAI_BASE_URL pointing at the fake). Every client
here is keep-alive (httpx2, which sets TCP_NODELAY on its sockets), and the gateway and direct
calls are measured in the same run, interleaved, so both see the same machine:

1. Overhead: `--rate` gateway requests/s (model "auto", routed, recorded) and as many direct
   requests/s to the fake, open loop (each request timed from its due time), for `--seconds`:
   p50 and p99 of each and of the difference, and the server's CPU time per gateway request
   (its processes' user and system time, workers included).
2. Time to first byte: the same, streamed, timed to the first chunk that carries content.
3. Time to first byte at rest: one streamed request at a time, from a provider that takes 200 ms
   to answer (the machine idles meanwhile, as a quiet gateway's does), then back to back from the
   fast one; beside them, GET /health after a 200 ms pause and back to back, which shows what
   idling costs any request.
4. Concurrency: `--streams` streams at once through the gateway (each 1.4 s long at the fake);
   every one must end with [DONE].
5. Soak: `--soak-seconds` at `--soak-rate` streamed and plain requests; the server's resident
   memory sampled every 10 s after a warm-up; the change from the first sample to the last.

The server's side of TCP_NODELAY is api/server.py's (without it, Nagle's algorithm and delayed
ACKs hold each keep-alive response ~40 ms); the figures say nothing true without it.
"""

from __future__ import annotations

import argparse
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
THREADS = 16
SLOW_STREAM = "gpt-5.4-mini-2026-03-17"  # the fake streams it slowly: 200 ms between chunks
SLOW_START = "gpt-6.1-sol"  # the fake answers it after 200 ms
FAKE = """
import sys, time
sys.path.insert(0, {root!r})
from tests.fakes.openai_wire import OpenAIFake
fake = OpenAIFake()
fake.fail_model({slow_stream!r}, "slow_stream", delay_s=0.2)
fake.fail_model({slow_start!r}, "delay", delay_s=0.2)
print(fake.base_url, flush=True)
while True:
    time.sleep(3600)
"""
BODY = {"model": "auto", "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 50}


def start_fake() -> tuple[subprocess.Popen, str]:
    script = FAKE.format(root=str(ROOT), slow_stream=SLOW_STREAM, slow_start=SLOW_START)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def start_server(home: Path, fake_url: str, workers: int = 1) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "MODELCTL_HOME": str(home), "OPENAI_BASE_URL": fake_url + "/v1",
           "OPENAI_API_KEY": "sk-bench-0000000000000000", "PYTHONPATH": str(ROOT)}
    for name in ("MODELCTL_DATABASE_URL", "ANTHROPIC_API_KEY", "HF_TOKEN", "OPENROUTER_API_KEY"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "modelctl", "serve", "--port", "0", "--json", "--log-level", "warning",
         "--rate-limit", "1000000", "--burst", "1000000", "--workers", str(workers)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    line = process.stdout.readline()
    if not line:
        raise SystemExit("the server did not start")
    return process, json.loads(line)["urls"][0]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process `pid` and of its children (serve --workers), so far."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += cpu_seconds(int(child))
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return total + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def overhead(gateway: str, direct: str, model: str, *, server_pid: int, rate: float, seconds: float,
             stream: bool = False) -> dict[str, float]:
    """Open loop, gateway and direct requests interleaved; ms from each request's due time to the
    whole answer, or with `stream` to its first content."""
    import httpx2

    total = int(rate * seconds) * 2
    timings: dict[str, list[float]] = {"gateway": [], "direct": []}
    errors = [0]
    lock = threading.Lock()
    start = time.perf_counter() + 0.5
    bodies = {"gateway": {**BODY, "stream": stream}, "direct": {**BODY, "model": model, "stream": stream}}

    def worker(index: int) -> None:
        with httpx2.Client(timeout=30) as client:
            mine: dict[str, list[float]] = {"gateway": [], "direct": []}
            for k in range(index, total, THREADS):
                due = start + k / (2 * rate)
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                which = "gateway" if k % 2 else "direct"
                url = gateway if which == "gateway" else direct
                try:
                    if stream:
                        mine[which].append(first_byte(client, url, bodies[which], since=due))
                        continue
                    response = client.post(url + "/v1/chat/completions", json=bodies[which])
                    if response.status_code != 200:
                        raise RuntimeError(response.status_code)
                    mine[which].append((time.perf_counter() - due) * 1000)
                except Exception:  # noqa: BLE001 - a benchmark counts every failure
                    errors[0] += 1
        with lock:
            for name, values in mine.items():
                timings[name].extend(values)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    cpu_before = cpu_seconds(server_pid)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    g, d = timings["gateway"], timings["direct"]
    cpu_ms = (cpu_seconds(server_pid) - cpu_before) * 1000
    return {"requests": len(g) + len(d), "errors": errors[0], "server_cpu_ms_per_request": cpu_ms / len(g),
            "gateway_p50": pct(g, 0.5), "gateway_p99": pct(g, 0.99),
            "direct_p50": pct(d, 0.5), "direct_p99": pct(d, 0.99),
            "overhead_p50": pct(g, 0.5) - pct(d, 0.5), "overhead_p99": pct(g, 0.99) - pct(d, 0.99)}


def first_byte(client, url: str, body: dict, *, since: float | None = None) -> float:
    """ms from `since` (default: now) to the first chunk that carries content."""
    start = time.perf_counter() if since is None else since
    elapsed = None
    with client.stream("POST", url + "/v1/chat/completions", json={**body, "stream": True}) as response:
        for line in response.iter_lines():
            compact = line.replace(" ", "")
            if elapsed is None and '"content":"' in compact and '"content":""' not in compact:
                elapsed = (time.perf_counter() - start) * 1000
    if elapsed is None:
        raise RuntimeError("the stream carried no content")
    return elapsed


def ttfb_at_rest(gateway: str, direct: str, model: str, *, n: int) -> dict[str, float]:
    """One streamed request at a time: each to a provider slow to its first token (pinned to it),
    so the machine idles in between; then back to back to `model`, warm. And for scale, what idling
    costs any request: GET /health after a 200 ms pause and back to back."""
    import httpx2

    g, d, paused, warm, g_warm, d_warm = [], [], [], [], [], []
    body = {**BODY, "model": SLOW_START}
    with httpx2.Client(timeout=30) as client:
        for _ in range(n):
            d.append(first_byte(client, direct, body))
            g.append(first_byte(client, gateway, body))
            time.sleep(0.2)
            for timings in (paused, warm):
                start = time.perf_counter()
                client.get(gateway + "/health").raise_for_status()
                timings.append((time.perf_counter() - start) * 1000)
        for _ in range(n):
            d_warm.append(first_byte(client, direct, {**BODY, "model": model}))
            g_warm.append(first_byte(client, gateway, BODY))
    return {"gateway_p50": statistics.median(g), "direct_p50": statistics.median(d),
            "added_p50": statistics.median(g) - statistics.median(d), "n": n,
            "back_to_back_added_p50": statistics.median(g_warm) - statistics.median(d_warm),
            "health_after_pause_p50": statistics.median(paused), "health_back_to_back_p50": statistics.median(warm)}


def concurrent_streams(gateway: str, *, streams: int) -> dict[str, float]:
    import httpx2

    done, failed = [0], []
    lock = threading.Lock()
    gate = threading.Barrier(streams)
    limits = httpx2.Limits(max_connections=streams, max_keepalive_connections=streams)
    client = httpx2.Client(timeout=60, limits=limits)

    def one() -> None:
        gate.wait()
        try:
            with client.stream("POST", gateway + "/v1/chat/completions",
                               json={**BODY, "model": SLOW_STREAM, "stream": True}) as response:
                lines = [line for line in response.iter_lines() if line]
            ok = response.status_code == 200 and lines and lines[-1] == "data: [DONE]" and not any(
                line.startswith('data: {"error"') for line in lines)
        except Exception as exc:  # noqa: BLE001 - a benchmark counts every failure
            ok, lines = False, [repr(exc)]
        with lock:
            if ok:
                done[0] += 1
            else:
                failed.append(lines[-1] if lines else "no body")

    start = time.perf_counter()
    threads = [threading.Thread(target=one) for _ in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    return {"streams": streams, "completed": done[0], "errors": len(failed),
            "seconds": time.perf_counter() - start, "first_error": failed[0] if failed else None}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def soak(gateway: str, pid: int, *, seconds: float, rate: float) -> dict[str, float]:
    import httpx2

    samples: list[int] = []
    stop = time.perf_counter() + seconds
    warmup = time.perf_counter() + min(30.0, seconds / 5)
    errors = [0]
    next_sample = warmup

    with httpx2.Client(timeout=30) as client:
        k = 0
        start = time.perf_counter()
        while time.perf_counter() < stop:
            due = start + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body = {**BODY, "stream": bool(k % 2)}
            response = client.post(gateway + "/v1/chat/completions", json=body)
            errors[0] += response.status_code != 200
            k += 1
            if time.perf_counter() >= next_sample:
                samples.append(rss_kb(pid))
                next_sample += 10
    first, last = samples[0], samples[-1]
    return {"seconds": seconds, "requests": k, "errors": errors[0], "rss_first_mb": first / 1024,
            "rss_last_mb": last / 1024, "rss_max_mb": max(samples) / 1024,
            "change_pct": (last - first) / first * 100, "rss_mb_samples": [round(kb / 1024, 1) for kb in samples]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="gateway requests/s (and as many direct)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--ttfb-samples", type=int, default=200)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--soak-seconds", type=float, default=600.0)
    parser.add_argument("--soak-rate", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=1, help="serve --workers (the soak samples the first)")
    parser.add_argument("--phases", default="overhead,ttfb,rest,concurrent,soak",
                        help="which phases to run, comma-separated")
    args = parser.parse_args()

    fake, fake_url = start_fake()
    with tempfile.TemporaryDirectory() as home:
        server, url = start_server(Path(home), fake_url, args.workers)
        phases = set(args.phases.split(","))
        try:
            import httpx2

            model = httpx2.post(url + "/v1/chat/completions", json=BODY, timeout=60).headers["x-modelctl-model"]
            timed = {"server_pid": server.pid, "rate": args.rate, "seconds": args.seconds}
            overhead(url, fake_url, model, server_pid=server.pid, rate=args.rate / 4, seconds=3)  # warm both paths
            runs = {
                "overhead": lambda: overhead(url, fake_url, model, **timed),
                "ttfb": lambda: overhead(url, fake_url, model, **timed, stream=True),
                "rest": lambda: ttfb_at_rest(url, fake_url, model, n=args.ttfb_samples),
                "concurrent": lambda: concurrent_streams(url, streams=args.streams),
                "soak": lambda: soak(url, server.pid, seconds=args.soak_seconds, rate=args.soak_rate),
            }
            for name, run in runs.items():
                if name in phases:
                    print(json.dumps({name: run()}), flush=True)
        finally:
            server.terminate()
            server.wait(10)
            fake.terminate()
            fake.wait(10)


if __name__ == "__main__":
    main()
