"""The store: created private, migrated from code, fast when current, clear when broken."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from modelctl.errors import StoreError
from modelctl.store.db import open_store, schema_history


def test_first_open_creates_a_private_migrated_seeded_database(modelctl_home):
    from modelctl.services.database import open_database

    store = open_database()
    assert store.path == modelctl_home / "modelctl.db"
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.schema_version() == schema_history()[-1]
    ids = {row[0] for row in store.read("SELECT model_id FROM model")}
    assert {"gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022", "gpt-3.5-turbo-0125",
            "gpt-4o-mini-2024-07-18", "claude-3-5-haiku-20241022"} <= ids
    assert store.read("SELECT action FROM audit") == [("init",)]


def test_wal_and_pragmas_are_on_for_writers(tmp_path):
    store = open_store(str(tmp_path / "x.db"))
    with store.write() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    wal = tmp_path / "x.db-wal"
    if wal.exists():
        assert stat.S_IMODE(os.stat(wal).st_mode) == 0o600


def test_schema_head_constant_matches_the_migrations():
    from modelctl.store.migrate import alembic_head

    assert alembic_head() == schema_history()[-1]


def test_migrations_match_the_table_definitions(tmp_path):
    """A migrated database has what the SQLModel tables declare (alembic autogenerate finds nothing)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from modelctl.store.tables import SQLModel

    store = open_store(str(tmp_path / "m.db"))
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_previous_schema_with_data_upgrades_to_head(tmp_path):
    from modelctl.store.db import Store
    from modelctl.store.migrate import upgrade

    path = tmp_path / "old.db"
    old = Store(f"sqlite:///{path}")
    upgrade(old, schema_history()[-2])
    with old.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO model (model_id, provider, capabilities, created_at, updated_at) "
            "VALUES ('m1', 'openai', '[\"text_generation\"]', "
            "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')")
        conn.exec_driver_sql(
            "INSERT INTO usage (ts, model_id, provider, latency_ms) "
            "VALUES ('2026-01-01 00:00:00.000000', 'm1', 'openai', 12)")
    old.dispose()
    store = open_store(str(path))
    assert store.schema_version() == schema_history()[-1]
    assert store.read("SELECT model_id FROM model") == [("m1",)]
    assert store.read("SELECT latency_ms FROM usage") == [(12.0,)]
    assert store.read("SELECT COUNT(*) FROM evaluation_score") == [(0,)]


def test_opening_a_current_store_imports_neither_alembic_nor_sqlalchemy(tmp_path):
    db = tmp_path / "fast.db"
    open_store(str(db)).dispose()
    code = (
        f"import sys; from modelctl.services.database import open_database; s = open_database({str(db)!r}); "
        "s.read('SELECT 1 FROM model');"
        "print(sorted(m for m in ('alembic', 'sqlalchemy', 'sqlmodel', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []


def test_corrupt_database_names_the_fix(tmp_path):
    db = tmp_path / "bad.db"
    db.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(StoreError, match=r"corrupt.*modelctl init"):
        open_store(str(db))


def test_unwritable_location_names_the_path_and_the_fix(tmp_path):
    if os.geteuid() == 0:
        target = "/proc/modelctl/x.db"  # even root cannot create files here
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "x.db")
    with pytest.raises(StoreError, match="--db PATH"):
        open_store(target)


def test_newer_schema_than_this_code_is_refused(tmp_path):
    db = tmp_path / "new.db"
    open_store(str(db)).dispose()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="newer than this modelctl"):
        open_store(str(db))


def test_check_only_open_says_to_upgrade(tmp_path):
    from modelctl.store.db import Store
    from modelctl.store.migrate import upgrade

    db = tmp_path / "behind.db"
    upgrade(Store(f"sqlite:///{db}"), schema_history()[0])
    with pytest.raises(StoreError, match="modelctl db upgrade"):
        open_store(str(db), migrate=False)


def test_in_memory_database_is_refused_with_a_reason():
    with pytest.raises(StoreError, match="in-memory"):
        open_store("sqlite:///:memory:")


def test_scores_imported_before_record_keys_are_not_imported_again(tmp_path, monkeypatch):
    """Migration 0009 gives the scores imported before it the keys an import computes now, so
    re-importing the file adds nothing; scores from `modelctl evaluate` get none."""
    from typer.testing import CliRunner

    from modelctl.cli.main import app
    from modelctl.store.db import Store
    from modelctl.store.migrate import upgrade

    path = tmp_path / "scores.db"
    old = Store(f"sqlite:///{path}")
    upgrade(old, "0007")
    line = '{"model_id": "m1", "segment": "s", "score": 1}\n'
    with old.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO model (model_id, provider, capabilities, created_at, updated_at) "
            "VALUES ('m1', 'openai', '[\"text_generation\"]', "
            "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')")
        for source in ("import", "import", "evaluate:smoke"):
            conn.exec_driver_sql("INSERT INTO evaluation_score (ts, model_id, segment, score, source) "
                                 "VALUES ('2026-01-01 00:00:00.000000', 'm1', 's', 1, ?)", (source,))
    old.dispose()
    store = open_store(str(path))
    assert store.schema_version() == schema_history()[-1]
    keys = store.read("SELECT source, record_key FROM evaluation_score ORDER BY id")
    assert [source for source, _ in keys] == ["import", "import", "evaluate:smoke"]
    assert keys[0][1] != keys[1][1] and None not in (keys[0][1], keys[1][1]) and keys[2][1] is None

    result = CliRunner().invoke(app, ["--db", str(path), "eval", "import", "-"], input=line * 3)
    assert "imported 1 new scores, 2 already imported" in result.stderr, result.stderr
    assert store.read("SELECT COUNT(*) FROM evaluation_score") == [(4,)]
