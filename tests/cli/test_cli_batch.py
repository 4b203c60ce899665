"""`route --batch` on worker processes, run as real processes: spool files, sendfile, failures, Ctrl-C.

Every run is bounded by a timeout: a batch that hangs fails its test instead of holding up CI.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROUTE_BATCH = [sys.executable, "-m", "modelctl", "route", "--ignore-keys", "--batch"]
# Enough lines to keep two workers busy for seconds (over 30,000 decisions/s on a quiet machine),
# so that a test can act on the batch while it runs.
BUSY_LINES = 400_000


def _environment(tmp_path: Path) -> dict[str, str]:
    """A fresh home with no keys, and a temporary directory of its own to check for leftovers."""
    (tmp_path / "tmp").mkdir()
    return {"PATH": "/usr/bin:/bin", "MODELCTL_HOME": str(tmp_path / "home"), "HOME": str(tmp_path),
            "TMPDIR": str(tmp_path / "tmp"), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}


def _batch(tmp_path: Path, query: str, lines: int = 4500) -> Path:
    """`lines` queries (4,500 make three chunks, so they run on workers): `query` with the line's
    number in place of {}."""
    batch = tmp_path / "b.jsonl"
    batch.write_text("".join(json.dumps({"id": i, "query": query.format(i)}) + "\n" for i in range(lines)))
    return batch


def _workers_of(process: subprocess.Popen, count: int) -> list[int]:
    """The process ids of `count` children of `process`, once they are running."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = []
        for task in Path(f"/proc/{process.pid}/task").iterdir():
            children += [int(pid) for pid in (task / "children").read_text().split()]
        if len(children) >= count:
            return children
        time.sleep(0.05)
    raise AssertionError(f"{process.args} started no {count} workers in 60 s")


def test_parallel_batch_in_a_real_process_writes_a_file_and_a_pipe_alike(tmp_path):
    """Workers spool their answers and the parent sends them on with sendfile, which only a real
    file descriptor takes; nothing stays behind in the temporary directory."""
    env, batch = _environment(tmp_path), _batch(tmp_path, "question {} about `ls`?")
    command = [*ROUTE_BATCH, str(batch), "--workers"]
    serial = subprocess.run([*command, "1"], env=env, capture_output=True, timeout=300)
    with (tmp_path / "out.jsonl").open("wb") as out:
        to_file = subprocess.run([*command, "2"], env=env, stdout=out, stderr=subprocess.PIPE, timeout=300)
    to_pipe = subprocess.run([*command, "2"], env=env, capture_output=True, timeout=300)
    assert serial.returncode == to_file.returncode == to_pipe.returncode == 0, to_file.stderr
    assert (tmp_path / "out.jsonl").read_bytes() == to_pipe.stdout == serial.stdout
    assert len(serial.stdout.splitlines()) == 4500
    assert list((tmp_path / "tmp").iterdir()) == []


def _file_size_limit(limit: int) -> Callable[[], None]:
    """A preexec_fn capping the size of any file the child writes."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_batch_whose_spool_cannot_be_written_says_so(tmp_path):
    """A file-size limit (as a full disk would) stops a worker's spool file: one clear error."""
    env, batch = _environment(tmp_path), _batch(tmp_path, "why does `ls` fail?")
    # room for the database, not for 2,000 decisions (about 3 MB)
    done = subprocess.run([*ROUTE_BATCH, str(batch), "--workers", "2"], env=env, capture_output=True, text=True,
                          timeout=300, preexec_fn=_file_size_limit(2_000_000))
    assert done.returncode == 1
    assert "cannot write the batch's answers to" in done.stderr and "TMPDIR" in done.stderr
    assert "Traceback" not in done.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_spool_failure_with_workers_busy_behind_it_ends_with_the_error_every_time(tmp_path):
    """The first chunk's spool cannot be written while the workers are still sending answers for
    the chunks behind it, each answer larger than a pipe holds (2,000 error messages). Shutting the
    pool down by killing its workers then left one blocked mid-message holding the result pipe's
    lock, and the parent waited for that lock forever (2 runs in 18 on two CPUs)."""
    env = _environment(tmp_path)
    batch = tmp_path / "b.jsonl"
    oversized_id = json.dumps({"id": "x" * 990_000}) + "\n"  # three of them: 3 MB of answers in chunk one
    batch.write_text(oversized_id * 3 + "".join(json.dumps({"id": i, "q": 1}) + "\n" for i in range(100_000)))
    for _ in range(3):
        done = subprocess.run([*ROUTE_BATCH, str(batch), "--workers", "2"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=120, preexec_fn=_file_size_limit(2_000_000))
        assert done.returncode == 1
        assert done.stderr.splitlines()[-1].startswith("error: cannot write the batch's answers to")
        assert "Traceback" not in done.stderr


def test_a_batch_whose_worker_is_killed_ends_with_a_clear_error(tmp_path):
    """A worker killed mid-chunk (the out-of-memory killer, an operator) takes its chunk with it:
    the batch says so and exits 1, where the pool used to wait for that chunk forever."""
    env, batch = _environment(tmp_path), _batch(tmp_path, "question {} about `ls`?", lines=BUSY_LINES)
    with subprocess.Popen([*ROUTE_BATCH, str(batch), "--workers", "2"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True) as batch_process:
        try:
            worker = _workers_of(batch_process, 2)[0]
            time.sleep(0.2)  # well into its first chunk
            os.kill(worker, signal.SIGKILL)
            _, stderr = batch_process.communicate(timeout=60)
        finally:
            batch_process.kill()
    assert batch_process.returncode == 1, stderr
    assert "a batch worker process died" in stderr and "--workers 1" in stderr
    assert "Traceback" not in stderr
    assert list((tmp_path / "tmp").iterdir()) == []


def test_ctrl_c_stops_a_parallel_batch_with_one_message_and_exit_130(tmp_path):
    """Ctrl-C reaches the whole foreground process group: the workers ignore it, the parent
    cleans up the pool and the spool files and says it was interrupted; no traceback."""
    env, batch = _environment(tmp_path), _batch(tmp_path, "question {} about `ls`?", lines=BUSY_LINES)
    with subprocess.Popen([*ROUTE_BATCH, str(batch), "--workers", "2"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as batch_process:
        try:
            workers = _workers_of(batch_process, 2)
            time.sleep(0.2)
            os.killpg(batch_process.pid, signal.SIGINT)
            _, stderr = batch_process.communicate(timeout=60)
        finally:
            batch_process.kill()
    assert batch_process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert list((tmp_path / "tmp").iterdir()) == []
    for worker in workers:  # exited and reaped by the parent, not left running
        assert not Path(f"/proc/{worker}").exists() or "Z" in Path(f"/proc/{worker}/stat").read_text().split()[2]
