"""A SQLite writer outlasts another process's write lock held past the busy timeout, and when
the lock never comes it says so as an error, not a traceback."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from modelctl.errors import StoreError
from modelctl.services.database import open_database
from modelctl.store import db


@pytest.fixture
def held_lock(tmp_path, monkeypatch):
    """A migrated database whose write lock another connection holds; a short busy timeout."""
    path = tmp_path / "locked.db"
    open_database(str(path)).dispose()
    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.1)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    yield path, holder
    holder.close()


def test_a_write_waits_out_a_lock_held_longer_than_the_busy_timeout(held_lock):
    path, holder = held_lock
    release = threading.Timer(1.0, holder.execute, ("COMMIT",))
    release.start()
    store = open_database(str(path))
    started = time.monotonic()

    with store.write() as conn:
        conn.exec_driver_sql("UPDATE lease SET holder = 'writer'")

    assert time.monotonic() - started >= 0.9  # it did wait, ten busy timeouts long
    assert store.read("SELECT holder FROM lease") == [("writer",)]
    release.join()


def test_a_lock_that_never_comes_is_a_store_error_naming_the_cause(held_lock, monkeypatch):
    path, _ = held_lock
    monkeypatch.setattr(db, "WRITE_PATIENCE_S", 0.5)
    store = open_database(str(path))

    with pytest.raises(StoreError, match="locked by another modelctl process"), store.write() as conn:
        conn.exec_driver_sql("UPDATE lease SET holder = 'writer'")
