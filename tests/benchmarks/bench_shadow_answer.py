"""Shadow calls and judging never add to the time until the user has the answer.

Run: python tests/benchmarks/bench_shadow_answer.py [--runs 30]

Real `modelctl run` processes against the loopback fake providers, in two homes that differ only
in an active shadow rollout: on the technical segment claude-sonnet-5-5 (Anthropic, answering after
a 1 s delay) shadows the incumbent for every request (--traffic 100), and a judge (gpt-6-luna)
compares every pair. Each run is timed from its start to its first stdout line (the printed
answer); the two conditions alternate, so load on the machine falls on both alike. Target: the
medians differ by <= 5 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

QUERY = "How do I fix a segfault in my C code?"
KEY = "sk-bench-not-a-real-key-5d1e"
CANDIDATE = "claude-haiku-5-5"  # shadows technical's head, claude-sonnet-5-5, answering a second later
JUDGE = "judge:\n  model: gpt-6-luna\n  shadow_share: 1\n  canary_share: 1\n  daily_budget_usd: 100\n"


def _time_to_answer(env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "modelctl", "run", QUERY, "--segment", "technical"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline()
    answered = time.perf_counter()
    _, err = proc.communicate(timeout=120)
    if proc.returncode != 0 or not line.strip():
        raise SystemExit(f"modelctl run failed ({proc.returncode}): {err.decode()}")
    return (answered - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs per condition")
    args = parser.parse_args()
    from tests.fakes.anthropic_wire import AnthropicFake
    from tests.fakes.openai_wire import OpenAIFake

    openai_fake, anthropic_fake = OpenAIFake(), AnthropicFake()
    anthropic_fake.fail_model(CANDIDATE, "delay", delay_s=1.0)
    base = {k: v for k, v in os.environ.items() if not k.startswith("MODELCTL_")}
    base.update(PYTHONPATH=str(ROOT), MODELCTL_NOW="2026-12-01T00:00:00Z",
                OPENAI_BASE_URL=openai_fake.base_url + "/v1", OPENAI_API_KEY=KEY,
                ANTHROPIC_BASE_URL=anthropic_fake.base_url, ANTHROPIC_API_KEY=KEY)
    envs = {}
    for name in ("no rollout", "shadow + judge"):
        home = Path(tempfile.mkdtemp(prefix="bench-shadow-"))
        env = {**base, "MODELCTL_HOME": str(home), "MODELCTL_CONFIG_DIR": str(home / "config")}
        (home / "config").mkdir()
        (home / "config" / "upgrade.yaml").write_text((ROOT / "config" / "upgrade.yaml").read_text() + JUDGE)
        subprocess.run([sys.executable, "-m", "modelctl", "init"], env=env, check=True, capture_output=True)
        if name == "shadow + judge":
            subprocess.run([sys.executable, "-m", "modelctl", "promote", CANDIDATE, "--segments",
                            "technical", "--traffic", "100"], env=env, check=True, capture_output=True)
        envs[name] = env
    for env in envs.values():  # warm the page cache and the routing-state caches
        _time_to_answer(env)
    times: dict[str, list[float]] = {name: [] for name in envs}
    for i in range(args.runs):
        order = list(envs) if i % 2 == 0 else list(reversed(envs))
        for name in order:
            times[name].append(_time_to_answer(envs[name]))
    time.sleep(3)  # let the last detached workers finish before the fakes go away
    medians = {name: statistics.median(t) for name, t in times.items()}
    shadowed = len([r for r in anthropic_fake.requests if CANDIDATE in str(r.json)])
    judged = len([r for r in openai_fake.requests if "gpt-6-luna" in str(r.json)])
    print(f"{args.runs} runs per condition, interleaved; time from start to the printed answer")
    for name, t in times.items():
        q = statistics.quantiles(t, n=4)
        print(f"  {name:<16} median {medians[name]:7.1f} ms  (quartiles {q[0]:.1f} / {q[2]:.1f} ms)")
    print(f"  difference of medians: {medians['shadow + judge'] - medians['no rollout']:+.1f} ms (target |d| <= 5 ms); "
          f"{shadowed} shadow calls and {judged} judge calls made meanwhile")
    openai_fake.close()
    anthropic_fake.close()


if __name__ == "__main__":
    main()
