"""Several real `modelctl` processes on one database at once, on SQLite and on PostgreSQL.

What a team with several cron jobs or gateway hosts relies on: every usage row arrives exactly
once, the hourly roll-ups agree with the raw rows (no lost update between two writers merging the
same roll-up), no "database is locked" reaches anyone, and of several ticks exactly one acts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest

from modelctl.services.database import open_database

pytestmark = pytest.mark.slow

T0 = datetime(2026, 12, 1)
MODELS = ("gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022")


def _env(db_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "MODELCTL_DATABASE_URL": db_url, **extra}


def _start(env: dict[str, str], *args: str, stdin: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "modelctl", *args], env=env, text=True,
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(procs: list[tuple[subprocess.Popen, str | None]]) -> list[str]:
    """Wait for every process; each must succeed without a word about locks. Returns stdouts."""
    outs = []
    for proc, stdin in procs:
        out, err = proc.communicate(stdin, timeout=600)
        assert proc.returncode == 0, f"{proc.args[3:]} exited {proc.returncode}: {err}"
        assert "locked" not in err.lower() and "deadlock" not in err.lower(), err
        outs.append(out)
    return outs


def _usage_lines(ids: range) -> str:
    """Rows spread over six hours and two models, so concurrent writers merge the same roll-ups."""
    lines = []
    for rid in ids:
        lines.append(json.dumps({
            "model_id": MODELS[rid % 2], "segment": ("simple", "technical")[rid // 2 % 2],
            "ts": (T0 + timedelta(minutes=rid * 7 % 360)).isoformat() + "Z",
            "latency_ms": 100 + rid % 900, "tokens_in": rid % 50, "tokens_out": rid % 70,
            "cost_usd": 0.001, "success": rid % 10 != 0, "request_id": f"r{rid}",
        }))
    return "\n".join(lines) + "\n"


def _check_rollups(db_url: str) -> int:
    """Per hour and model, the roll-up's calls, successes and tokens equal the raw rows'; returns
    the number of raw rows."""
    store = open_database(db_url)
    raw: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0])
    for ts, model_id, success, tokens_in, tokens_out in store.read(
            "SELECT ts, model_id, success, tokens_in, tokens_out FROM usage"):
        sums = raw[(ts[:13], model_id)]
        sums[0] += 1
        sums[1] += bool(success)
        sums[2] += tokens_in
        sums[3] += tokens_out
    rolled: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0])
    for hour, model_id, calls, successes, tokens_in, tokens_out in store.read(
            "SELECT hour, model_id, calls, successes, tokens_in, tokens_out FROM usage_rollup"):
        sums = rolled[(hour[:13], model_id)]
        for i, value in enumerate((calls, successes, tokens_in, tokens_out)):
            sums[i] += value
    store.dispose()
    assert dict(rolled) == dict(raw)
    return sum(sums[0] for sums in raw.values())


def _db_check(db_url: str) -> dict:
    proc = _start(_env(db_url), "db", "check", "--json")
    return json.loads(_finish([(proc, None)])[0])


def test_imports_and_single_records_at_once_store_every_row_exactly_once(db_url, tmp_path):
    # four files whose request ids overlap their neighbours' by a third, all racing on a blank
    # database (so the first-use migration races too), with single `usage record` calls among them
    files = []
    for k in range(4):
        path = tmp_path / f"usage-{k}.jsonl"
        path.write_text(_usage_lines(range(k * 1000, k * 1000 + 1500)))
        files.append(path)
    env = _env(db_url, MODELCTL_NOW="2026-12-01T06:30:00Z")
    procs = [(_start(env, "usage", "import", str(path), "--json"), None) for path in files]
    records = [f"r{rid}" for rid in (5, 1200, 3499)] + [f"single-{i}" for i in range(3)]
    procs += [(_start(env, "usage", "record", MODELS[0], "--latency-ms", "250", "--tokens-in", "10",
                      "--request-id", rid, "--json"), None) for rid in records]

    outs = _finish(procs)

    imported = [json.loads(out) for out in outs[:4]]
    recorded = [json.loads(out) for out in outs[4:]]
    expected = {f"r{rid}" for rid in range(4500)} | {f"single-{i}" for i in range(3)}
    assert sum(r["inserted"] for r in imported) + sum(r["recorded"] for r in recorded) == len(expected)
    assert all(r["recorded"] for r in recorded[3:])  # ids no file has
    store = open_database(db_url)
    ids = Counter(row[0] for row in store.read("SELECT request_id FROM usage"))
    store.dispose()
    assert set(ids) == expected and max(ids.values()) == 1
    assert _check_rollups(db_url) == len(expected)
    report = _db_check(db_url)
    assert report["ok"] and report["usage_rows"] == len(expected)


def test_processes_arriving_while_a_new_database_is_built_all_find_its_catalog(db_url):
    # staggered, so some arrive while the first is still migrating and seeding: none may find
    # the schema current and the catalog empty
    env = _env(db_url)
    procs = []
    for i in range(10):
        procs.append((_start(env, "usage", "record", MODELS[0], "--latency-ms", "5", "--request-id", f"s{i}"), None))
        time.sleep(0.2)

    _finish(procs)

    assert _check_rollups(db_url) == 10


def test_the_same_file_imported_four_times_at_once_lands_once(db_url, tmp_path):
    path = tmp_path / "usage.jsonl"
    path.write_text(_usage_lines(range(3000)))
    open_database(db_url).dispose()
    env = _env(db_url, MODELCTL_NOW="2026-12-01T06:30:00Z")

    outs = _finish([(_start(env, "usage", "import", str(path), "--json"), None) for _ in range(4)])

    reports = [json.loads(out) for out in outs]
    assert sum(r["inserted"] for r in reports) == 3000
    assert all(r["inserted"] + r["duplicates"] == 3000 for r in reports)
    assert _check_rollups(db_url) == 3000
    assert _db_check(db_url)["ok"]


QUERY = "What is the capital of France?"
KEY = "sk-test-concurrency-3f9a"


def test_runs_at_once_record_each_attempt_once(db_url, fake_openai):
    open_database(db_url).dispose()
    env = _env(db_url, OPENAI_BASE_URL=fake_openai.base_url + "/v1", OPENAI_API_KEY=KEY)
    # two processes share run-0: its attempt is one row, whoever writes first
    request_ids = ["run-0", "run-0", "run-1", "run-2", "run-3"]

    outs = _finish([(_start(env, "run", QUERY, "--json", "--deadline-ms", "60000", "--request-id", rid), None)
                    for rid in request_ids])

    results = [json.loads(out) for out in outs]
    assert all(r["answer"] == "Paris is the capital of France." for r in results)
    store = open_database(db_url)
    rows = store.read("SELECT request_id, attempt, model_id, success FROM usage ORDER BY request_id")
    health = store.read("SELECT health, consecutive_failures FROM provider WHERE name = 'openai'")
    store.dispose()
    assert [(rid, attempt, success) for rid, attempt, _, success in rows] == [
        (f"run-{i}", 0, 1) for i in range(4)]
    assert {model_id for _, _, model_id, _ in rows} == {results[0]["model_id"]}
    assert health == [("ok", 0)]
    assert len(fake_openai.requests) == 5
    assert _check_rollups(db_url) == 4


CANDIDATE = "claude-sonnet-5-5"
INCUMBENT = "claude-3-5-sonnet-20241022"  # the technical head of the original design's chains on ROLLOUT_T0
ROLLOUT_T0 = datetime(2026, 1, 5)  # before the first retirement of those chains (2026-02-19)


def _rollout_calls(model_id: str, arm: str, *, success_rate: float) -> str:
    """300 technical calls over the first 1.5 hours, with exactly the failures asked for."""
    n, failures = 300, round(300 * (1 - success_rate))
    return "".join(json.dumps({
        "model_id": model_id, "arm": arm, "segment": "technical",
        "ts": (ROLLOUT_T0 + timedelta(hours=0.1 + 1.4 * i / n)).isoformat() + "Z",
        "latency_ms": 1000.0 * (0.9 + 0.2 * (i * 7919 % 100) / 100),
        "success": (i + 1) * failures // n == i * failures // n,
        "cost_usd": 0.001, "request_id": f"{model_id}-{arm}-{i}",
    }) + "\n" for i in range(n))


@pytest.mark.usefixtures("original_chains")
def test_of_three_ticks_at_once_exactly_one_rolls_back(db_url):
    setup = _env(db_url, MODELCTL_NOW="2026-01-05T00:00:00Z")
    _finish([(_start(setup, "promote", CANDIDATE, "--segments", "technical"), None)])
    feed = _rollout_calls(INCUMBENT, "control", success_rate=1.0) + _rollout_calls(CANDIDATE, "shadow",
                                                                                 success_rate=0.7)
    _finish([(_start(setup, "usage", "import", "-", stdin=True), feed)])
    later = _env(db_url, MODELCTL_NOW="2026-01-05T02:00:00Z")

    outs = _finish([(_start(later, "upgrade", "tick", "--json"), None) for _ in range(3)])

    reports = [json.loads(out) for out in outs]
    acted = [r for r in reports if r["rollouts"]]
    # the others found the lease held, or took it after the rollback and found nothing to judge
    assert len(acted) == 1 and [t["action"] for t in acted[0]["rollouts"]] == ["rollback"]
    store = open_database(db_url)
    actions = [row[0] for row in store.read("SELECT action FROM audit WHERE action LIKE 'rollout-%'")]
    gates = [row[0] for row in store.read("SELECT gate FROM gate_result")]
    phase = store.read("SELECT phase FROM rollout")
    store.dispose()
    assert actions.count("rollout-rollback") == 1
    assert len(gates) == len(set(gates))  # one evaluation, not three
    assert phase == [("rolled_back",)]
