"""Ctrl-C, as a terminal sends it (SIGINT to the whole foreground process group), stops any command
with one message and exit 130, never a traceback; an interrupted import says how to carry on, and
carrying on as told records every line exactly once.

`route --batch` is covered in tests/cli/test_cli_batch.py.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

MODELCTL = [sys.executable, "-m", "modelctl"]
# Over services/usage.py's PARALLEL_MIN_BYTES, so a second process checks the second half.
IMPORT_LINES = 160_000


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "MODELCTL_HOME": str(tmp_path / "home"), "HOME": str(tmp_path),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **extra}


def _interrupted(args: list[str], env: dict[str, str], *, once: Callable[[], bool]) -> tuple[int, str]:
    """Start the command in a process group of its own, press Ctrl-C as soon as `once()` holds;
    (exit code, stderr)."""
    with subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as process:
        try:
            deadline = time.monotonic() + 60
            while not once():
                assert process.poll() is None, "the command ended before it could be interrupted"
                assert time.monotonic() < deadline
                time.sleep(0.005)
            os.killpg(process.pid, signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    return process.returncode, stderr


def _usage_file(tmp_path: Path, *, request_ids: bool) -> Path:
    path = tmp_path / "usage.jsonl"
    with path.open("w") as out:
        for i in range(IMPORT_LINES):
            line = {"model_id": "gpt-6-luna", "latency_ms": 100 + i % 900, "tokens_in": 12, "tokens_out": 40,
                    "ts": "2026-11-01T10:00:00Z", "segment": "simple" if i % 2 else "technical"}
            if request_ids:
                line["request_id"] = f"req-{i}"
            out.write(json.dumps(line) + "\n")
    return path


def _counts(database: Path) -> tuple[int, int]:
    """(usage rows, calls in the hourly roll-ups)."""
    with sqlite3.connect(database) as db:
        return db.execute("SELECT (SELECT COUNT(*) FROM usage), (SELECT SUM(calls) FROM usage_rollup)").fetchone()


def _recording_started(database: Path) -> Callable[[], bool]:
    """True once pass two has committed its first batch."""
    def started() -> bool:
        try:
            with sqlite3.connect(database) as db:
                return db.execute("SELECT COUNT(*) FROM usage").fetchone()[0] > 0
        except sqlite3.OperationalError:  # not created yet
            return False
    return started


def _check(env: dict[str, str]) -> None:
    done = subprocess.run([*MODELCTL, "db", "check", "--json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ctrl_c_mid_import_says_run_it_again_and_the_rerun_completes_it(tmp_path):
    env = _environment(tmp_path)
    source = _usage_file(tmp_path, request_ids=True)
    database = tmp_path / "home" / "modelctl.db"
    code, stderr = _interrupted([*MODELCTL, "usage", "import", str(source)], env,
                                once=_recording_started(database))
    assert code == 130, stderr
    assert "Traceback" not in stderr and "database error" not in stderr
    assert stderr.startswith("interrupted: lines 1-") and "run it again to continue" in stderr, stderr
    assert 0 < _counts(database)[0] < IMPORT_LINES
    rerun = subprocess.run([*MODELCTL, "usage", "import", str(source), "--json"], env=env, capture_output=True,
                           text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert _counts(database) == (IMPORT_LINES, IMPORT_LINES)
    _check(env)


def test_ctrl_c_mid_import_of_lines_without_request_id_names_where_to_continue(tmp_path):
    """Such lines cannot be recognised again, so `run it again` would record them twice: the
    message gives the command that continues after the last line recorded."""
    env = _environment(tmp_path)
    source = _usage_file(tmp_path, request_ids=False)
    database = tmp_path / "home" / "modelctl.db"
    code, stderr = _interrupted([*MODELCTL, "usage", "import", str(source)], env,
                                once=_recording_started(database))
    assert code == 130 and "Traceback" not in stderr, stderr
    assert "a rerun would record those twice" in stderr, stderr
    command = stderr.split("continue with ", 1)[1].strip()
    assert command.startswith("tail -n +")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # `modelctl` as the console script
    continued = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True)
    assert continued.returncode == 0, continued.stderr
    assert _counts(database) == (IMPORT_LINES, IMPORT_LINES)


@pytest.fixture
def slow_openai(fake_openai, tmp_path):
    """OpenAI on the loopback fake, answering (and listing) only after 30 s."""
    fake_openai.fail_next("delay", delay_s=30, times=5)
    return fake_openai, _environment(tmp_path, OPENAI_API_KEY="sk-test-ctrl-c",
                                     OPENAI_BASE_URL=fake_openai.base_url + "/v1")


def test_ctrl_c_while_run_waits_for_a_slow_model(slow_openai):
    fake, env = slow_openai
    code, stderr = _interrupted([*MODELCTL, "run", "What is the capital of France?"], env,
                                once=lambda: bool(fake.requests))
    assert code == 130, stderr
    assert stderr.strip() == "interrupted"


def test_ctrl_c_while_discover_waits_for_a_slow_listing(slow_openai):
    fake, env = slow_openai
    code, stderr = _interrupted([*MODELCTL, "discover", "--provider", "openai"], env,
                                once=lambda: bool(fake.requests))
    assert code == 130, stderr
    assert stderr.strip() == "interrupted"
