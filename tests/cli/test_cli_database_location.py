"""Where the database is: a URL modelctl cannot use, a path in a directory that does not exist,
and a database on read-only storage each get one line that says what to do; reads of a read-only
database work.

Tests run as root, which ignores file modes: a read-only database here is an immutable file
(`chattr +i`, which root cannot write either) or a read-only bind mount in a private mount
namespace (`unshare -m`) around a real process; each skips where the system does not allow it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCORES = '{"model_id": "gpt-6-luna", "segment": "technical", "score": 0.9}\n'


def test_a_database_url_modelctl_cannot_use_is_one_line_naming_what_to_use(cli):
    result = cli("--db", "mysql://x", "models", "list", code=2)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "mysql is not supported" in result.stderr
    assert "postgresql+psycopg://" in result.stderr and "pip install 'modelctl[postgres]'" in result.stderr
    missing = cli("--db", "postgresql+asyncpg://u@localhost/db", "models", "list", code=1).stderr
    assert "driver asyncpg is not installed" in missing and missing.count("\n") == 1


def test_a_path_in_a_missing_directory_is_refused_and_init_creates_it(cli, tmp_path):
    db = tmp_path / "no" / "such" / "m.db"
    result = cli("--db", str(db), "models", "list", code=1)
    assert f"{db.parent}: no such directory" in result.stderr and "init" in result.stderr
    assert not (tmp_path / "no").exists()
    cli("--db", str(db), "init")
    assert db.is_file()
    assert cli.json("--db", str(db), "models", "list")


@pytest.fixture
def immutable(tmp_path):
    """Makes a file immutable (root cannot write it either); undone at the end."""
    if shutil.which("chattr") is None:
        pytest.skip("needs chattr")
    made = []

    def make(path: Path) -> None:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not allowed here")
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_an_immutable_database_file_can_be_read_not_written(cli, tmp_path, immutable):
    db = str(tmp_path / "m.db")
    cli("--db", db, "eval", "import", "-", input=SCORES)
    immutable(tmp_path / "m.db")
    assert len(cli.json("--db", db, "models", "list")) > 10
    assert cli.json("--db", db, "eval", "show")[0]["n"] == 1
    assert cli.json("--db", db, "route", "How do I undo a git commit?", "--ignore-keys")["model_id"]
    cli("--db", db, "stats")
    refused = cli("--db", db, "eval", "import", "-", input=SCORES, code=1).stderr
    assert f"{db} is read-only" in refused and "--db" in refused


def _in_read_only_mount(directory: Path, *args: str) -> subprocess.CompletedProcess:
    """`modelctl ARGS` in a private mount namespace where `directory` is mounted read-only."""
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(directory),
                           sys.executable, "-m", "modelctl", *args],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})


def test_read_commands_work_on_a_read_only_mount(tmp_path):
    if shutil.which("unshare") is None or _in_read_only_mount(tmp_path, "--version").returncode != 0:
        pytest.skip("needs unshare -m and mount (root, or a user namespace)")
    directory = tmp_path / "ro"
    directory.mkdir()
    db = str(directory / "m.db")
    # filled by a process that ends, as a database is left on storage later made read-only
    subprocess.run([sys.executable, "-m", "modelctl", "--db", db, "eval", "import", "-"], input=SCORES,
                   text=True, capture_output=True, check=True)
    assert sorted(p.name for p in directory.iterdir()) == ["m.db", "m.db.lock"]

    listed = _in_read_only_mount(directory, "--db", db, "models", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) > 10
    for command in (["route", "Explain recursion", "--json"], ["stats"], ["eval", "show"], ["db", "export", "--json"]):
        ran = _in_read_only_mount(directory, "--db", db, *command)
        assert ran.returncode == 0, f"{command}: {ran.stderr}"
    written = _in_read_only_mount(directory, "--db", db, "models", "set-status", "gpt-6-luna", "disabled")
    assert written.returncode == 1
    assert "is read-only" in written.stderr and "Traceback" not in written.stderr
    assert sorted(p.name for p in directory.iterdir()) == ["m.db", "m.db.lock"]  # nothing new written there
