"""Real `modelctl` processes killed with SIGKILL mid-write: the database stays consistent, and running
the same command again finishes the job exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

IMPORT_LINES = 200_000
CANDIDATE = "claude-sonnet-5-5"
INCUMBENT = "claude-3-5-sonnet-20241022"  # the technical head of the original design's chains on T0
T0 = datetime(2026, 1, 5)  # before the first retirement of those chains (2026-02-19)


def _modelctl(*args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "modelctl", *args], env=env or os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modelctl", *args], env=env or os.environ.copy(),
                          capture_output=True, text=True, timeout=300)


def _scalar(db: Path, sql: str):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=15)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def _wait_until(predicate, *, timeout_s: float, process: subprocess.Popen, step_s: float = 0.002) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        if process.poll() is not None:
            return False
        time.sleep(step_s)
    return False


def _check(env: dict[str, str] | None = None) -> dict:
    result = _run("db", "check", "--json", env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def test_usage_import_killed_midway_leaves_a_consistent_database_and_resumes_without_duplicates(
        modelctl_home, tmp_path, monkeypatch):
    monkeypatch.setenv("MODELCTL_NOW", T0.isoformat() + "Z")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the killed import's staged rows stay
    big = tmp_path / "big.jsonl"
    with big.open("w") as out:
        for i in range(IMPORT_LINES):
            out.write(json.dumps({
                "model_id": ("gpt-4o-2024-08-06", "claude-haiku-5-5")[i % 2], "latency_ms": 200 + i % 997,
                "tokens_in": 10 + i % 50, "tokens_out": 20 + i % 70, "success": i % 31 != 0,
                "ts": (T0 - timedelta(minutes=i % 5000)).isoformat() + "Z", "request_id": f"req-{i}",
            }) + "\n")
    assert _run("init").returncode == 0
    db = modelctl_home / "modelctl.db"

    importer = _modelctl("usage", "import", str(big))
    # kill once a few batches are committed, while later ones are still to come
    landed = _wait_until(lambda: _scalar(db, "SELECT COUNT(*) FROM usage") >= 20_000, timeout_s=120,
                         process=importer)
    importer.send_signal(signal.SIGKILL)
    importer.wait()
    assert landed, f"the import ended before it could be killed: {importer.stderr.read().decode()}"
    survived = _scalar(db, "SELECT COUNT(*) FROM usage")
    assert 0 < survived < IMPORT_LINES

    report = _check()
    assert report["ok"], report
    assert report["usage_rows"] == survived  # roll-ups hold exactly the committed batches

    resumed = _run("usage", "import", str(big), "--json")
    assert resumed.returncode == 0, resumed.stderr
    counts = json.loads(resumed.stdout)
    assert (counts["inserted"], counts["duplicates"]) == (IMPORT_LINES - survived, survived)
    assert _scalar(db, "SELECT COUNT(*) FROM usage") == IMPORT_LINES
    assert _scalar(db, "SELECT COUNT(DISTINCT request_id) FROM usage") == IMPORT_LINES
    assert _check()["ok"]
    stats = json.loads(_run("stats", "--json").stdout)
    assert sum(row["calls"] for row in stats) == IMPORT_LINES


def _evidence(path: Path, *, n: int) -> Path:
    """Good shadow evidence for the candidate against the incumbent, spread over hours 1..20."""
    with path.open("w") as out:
        for model_id, arm in ((INCUMBENT, "control"), (CANDIDATE, "shadow")):
            for i in range(n):
                out.write(json.dumps({
                    "model_id": model_id, "arm": arm, "segment": "technical", "cost_usd": 0.001,
                    "ts": (T0 + timedelta(hours=1 + 19 * i / n)).isoformat() + "Z",
                    "latency_ms": 1000 * (0.9 + 0.2 * ((i * 7919) % 100) / 100),
                    "request_id": f"{model_id}-{arm}-{i}",
                }) + "\n")
    return path


def _at(env: dict[str, str], hours: float) -> dict[str, str]:
    return {**env, "MODELCTL_NOW": (T0 + timedelta(hours=hours)).isoformat() + "Z"}


def _phase_and_advances(db: Path) -> tuple[str, int, int]:
    return (_scalar(db, f"SELECT phase FROM rollout WHERE candidate_id = '{CANDIDATE}'"),
            _scalar(db, "SELECT COUNT(*) FROM audit WHERE action = 'rollout-advance'"),
            _scalar(db, "SELECT COUNT(DISTINCT ts) FROM gate_result"))


@pytest.mark.usefixtures("original_chains")
def test_a_tick_killed_between_its_decision_and_its_write_acts_once_after_its_lease_expires(tmp_path):
    """Stop the tick (SIGSTOP) as soon as it holds the lease, before it has written its decision,
    then SIGKILL it: nothing is half-written, the lease keeps other ticks out until it expires,
    and the next tick after that acts exactly once. The stop can land after the write on a fast
    run; such an attempt must be consistent too, and another attempt is made."""
    evidence = _evidence(tmp_path / "evidence.jsonl", n=20_000)
    caught_before_write = 0
    for attempt in range(4):
        env = {**os.environ, "MODELCTL_HOME": str(tmp_path / f"home-{attempt}")}
        db = tmp_path / f"home-{attempt}" / "modelctl.db"
        assert _run("promote", CANDIDATE, "--segments", "technical", env=_at(env, 0)).returncode == 0
        assert _run("usage", "import", str(evidence), env=_at(env, 0)).returncode == 0

        tick = _modelctl("upgrade", "tick", "--json", env=_at(env, 25))
        held = _wait_until(lambda db=db: _scalar(db, "SELECT holder FROM lease") is not None,
                           timeout_s=60, process=tick)
        tick.send_signal(signal.SIGSTOP)
        assert held, f"the tick ended before it was stopped: {tick.stderr.read().decode()}"
        phase, advances, _ = _phase_and_advances(db)
        before_write = phase == "shadow"
        # all or nothing: the phase moved exactly when the audit row and the gate results exist
        assert (phase, advances) in (("shadow", 0), ("canary", 1))
        assert (_scalar(db, "SELECT COUNT(*) FROM gate_result") > 0) == (not before_write)

        other = json.loads(_run("upgrade", "tick", "--json", env=_at(env, 25)).stdout)
        assert other["lease"].startswith("held by") and other["rollouts"] == []
        tick.send_signal(signal.SIGKILL)
        tick.wait()

        assert _check(env)["ok"]
        still = json.loads(_run("upgrade", "tick", "--json", env=_at(env, 25 + 5 / 60)).stdout)
        assert still["lease"].startswith("held by") and still["rollouts"] == []  # a killed holder's lease runs on

        later = json.loads(_run("upgrade", "tick", "--json", env=_at(env, 25 + 11 / 60)).stdout)
        assert later["lease"] == "taken"
        [judged] = later["rollouts"]
        phase, advances, ticks_recorded = _phase_and_advances(db)
        assert (phase, advances, ticks_recorded) == ("canary", 1, 1 if before_write else 2)
        if before_write:
            assert (judged["from_phase"], judged["action"]) == ("shadow", "advance")
            caught_before_write += 1
            break
        assert (judged["from_phase"], judged["action"]) == ("canary", "wait")
    assert caught_before_write, "the tick was never stopped before its write; no attempt tested the crash"
