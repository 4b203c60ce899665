"""Retention and copies: `usage prune` keeps `stats` answering for old periods, `db backup`, `db export`."""

from __future__ import annotations

import json
import os
import random
import sqlite3
from datetime import datetime, timedelta

import pytest

from modelctl.errors import StoreError
from modelctl.services.database import open_database
from modelctl.store.db import Store

NOW = datetime(2026, 12, 1, 12, 0)
MODELS = ("gpt-4o-2024-08-06", "claude-haiku-5-5", "llama3.1:8b")
DAYS = 180


def _history(path, *, days=DAYS, per_day=12, seed=7, tag="h"):
    """Usage spread over the last `days` days at random hours, with failures, quality and TTFT."""
    rng = random.Random(seed)
    lines = []
    for day in range(days):
        for i in range(per_day):
            ts = NOW - timedelta(days=day, hours=rng.uniform(0, 24))
            lines.append(json.dumps({
                "model_id": rng.choice(MODELS), "segment": rng.choice(("simple", "technical")),
                "ts": ts.isoformat() + "Z", "latency_ms": rng.lognormvariate(6.5, 0.5),
                "ttft_ms": rng.lognormvariate(5, 0.4), "tokens_in": rng.randint(10, 900),
                "tokens_out": rng.randint(10, 900), "success": rng.random() > 0.05,
                "quality": round(rng.random(), 3), "cost_usd": rng.uniform(0.0001, 0.01),
                "request_id": f"{tag}-{day}-{i}",
            }))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def history(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("MODELCTL_NOW", NOW.isoformat() + "Z")
    cli("usage", "import", str(_history(tmp_path / "usage.jsonl")))
    return DAYS * 12


def _count(sql):
    return open_database().read(sql)[0][0]


def _stats(cli, *args):
    return {r["key"]: r for r in cli.json("stats", *args)}


def test_prune_deletes_old_rows_and_stats_still_answers_the_same(cli, history):
    before = {by: _stats(cli, "--by", by) for by in ("model", "segment", "day")}
    old_days = _stats(cli, "--by", "day", "--since", "2026-03-01")
    hourly = _count("SELECT COUNT(*) FROM usage_rollup WHERE hour < '2026-09-02'")

    report = cli.json("usage", "prune", "--older-than", "90d")

    assert report["cutoff"] == "2026-09-02T00:00:00Z" and not report["dry_run"]
    kept = _count("SELECT COUNT(*) FROM usage")
    assert report["deleted_rows"] == history - kept > 0
    assert _count("SELECT COUNT(*) FROM usage WHERE ts < '2026-09-02'") == 0
    # the old days' roll-ups are one row per group at midnight now, fewer than before
    assert report["rollups_before"] == hourly > report["rollups_after"]
    assert _count("SELECT COUNT(*) FROM usage_rollup WHERE hour < '2026-09-02' AND hour NOT LIKE '% 00:00:00%'") == 0
    # totals, success rates, tokens, cost and (merged histograms) percentiles are unchanged
    for by, rows in before.items():
        assert _stats(cli, "--by", by) == rows
    assert _stats(cli, "--by", "day", "--since", "2026-03-01") == old_days
    check = cli.json("db", "check")
    assert check["ok"] and check["pruned_rows"] == report["deleted_rows"] and check["usage_rows"] == kept

    [entry] = [e for e in cli.json("audit") if e["action"] == "usage-prune"]
    assert entry["after"]["deleted_rows"] == report["deleted_rows"] and entry["after"]["older_than"] == "90d"

    again = cli.json("usage", "prune", "--older-than", "90d")
    assert (again["deleted_rows"], again["rollups_before"]) == (0, 0)
    assert len([e for e in cli.json("audit") if e["action"] == "usage-prune"]) == 1


def test_dry_run_counts_and_changes_nothing(cli, history):
    older = _count("SELECT COUNT(*) FROM usage WHERE ts < '2026-09-02'")
    result = cli("usage", "prune", "--older-than", "90d", "--dry-run")
    assert f"would delete {older:,} usage rows before 2026-09-02" in result.stderr
    assert _count("SELECT COUNT(*) FROM usage") == history
    assert cli.json("db", "check")["pruned_rows"] == 0


def test_a_prune_stopped_between_batches_is_consistent_and_finishes_when_run_again(cli, history):
    """Each batch commits rows deleted and rows counted as pruned together."""
    from modelctl.services.maintenance import prune_cutoff
    from modelctl.store import maintenance

    store = open_database()
    cutoff = prune_cutoff("90d", now=NOW)
    day = maintenance.oldest_usage_day(store, before=cutoff)
    with store.write() as conn:
        assert maintenance.delete_usage_batch(conn, day=day, size=3, now=NOW) == 3
    assert cli.json("db", "check")["ok"]
    assert cli.json("db", "check")["pruned_rows"] == 3

    report = cli.json("usage", "prune", "--older-than", "90d")
    assert cli.json("db", "check")["pruned_rows"] == report["deleted_rows"] + 3
    assert cli.json("db", "check")["ok"]


def test_usage_arriving_later_for_a_pruned_day_is_still_accounted(cli, history, tmp_path):
    cli("usage", "prune", "--older-than", "90d")
    late = tmp_path / "late.jsonl"
    late.write_text(json.dumps({"model_id": MODELS[0], "latency_ms": 500, "ts": "2026-07-01T15:30:00Z",
                                "request_id": "late-1"}) + "\n")
    day_before = _stats(cli, "--by", "day", "--since", "2026-07-01")["2026-07-01"]["calls"]
    cli("usage", "import", str(late))
    assert _stats(cli, "--by", "day", "--since", "2026-07-01")["2026-07-01"]["calls"] == day_before + 1
    assert cli.json("db", "check")["ok"]
    cli("usage", "prune", "--older-than", "90d")
    assert _stats(cli, "--by", "day", "--since", "2026-07-01")["2026-07-01"]["calls"] == day_before + 1
    assert cli.json("db", "check")["ok"]


@pytest.mark.usefixtures("original_chains")
def test_prune_refuses_to_delete_what_an_active_rollout_is_judged_on(cli, monkeypatch):
    monkeypatch.setenv("MODELCTL_NOW", "2026-11-21T10:00:00Z")
    # on that day claude-sonnet-5-5 serves technical in place of retired claude-3-5-sonnet-20241022
    cli("promote", "gpt-6.1-sol", "--segments", "technical")
    monkeypatch.setenv("MODELCTL_NOW", NOW.isoformat() + "Z")
    err = cli("usage", "prune", "--older-than", "5d", code=2).stderr
    assert "shadow rollout of gpt-6.1-sol" in err and "--older-than 10d" in err
    cli("usage", "prune", "--older-than", "10d")


def test_prune_rejects_a_bad_or_future_cutoff(cli, monkeypatch):
    monkeypatch.setenv("MODELCTL_NOW", NOW.isoformat() + "Z")
    assert "--older-than: 'ninety' is not an ISO-8601" in cli("usage", "prune", "--older-than", "ninety", code=2).stderr
    assert "in the future" in cli("usage", "prune", "--older-than", "2027-01-01", code=2).stderr


# --------------------------------------------------------------------------- backup


def test_backup_is_a_private_consistent_copy_taken_while_a_writer_holds_a_transaction(cli, history, tmp_path,
                                                                                      modelctl_home):
    target = tmp_path / "copies" / "modelctl-backup.db"
    target.parent.mkdir()
    writer = sqlite3.connect(modelctl_home / "modelctl.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM usage")  # not committed: the copy must not see it
    old_umask = os.umask(0o022)
    try:
        cli("db", "backup", str(target))
    finally:
        os.umask(old_umask)
        writer.execute("ROLLBACK")
        writer.close()
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["modelctl-backup.db"]  # no partial file left
    assert cli.json("--db", str(target), "db", "check")["usage_rows"] == history
    assert cli.json("--db", str(target), "stats") == cli.json("stats")

    err = cli("db", "backup", str(target), code=2).stderr
    assert "already exists; pass --force" in err
    cli("usage", "record", MODELS[0], "--latency-ms", "300")
    cli("db", "backup", str(target), "--force")
    assert cli.json("--db", str(target), "db", "check")["usage_rows"] == history + 1


def test_backup_of_postgresql_names_pg_dump_without_the_password():
    from modelctl.services.maintenance import backup_database

    store = Store("postgresql+psycopg://ops:s3cret-pw@db.internal:5432/modelctl")
    with pytest.raises(StoreError) as caught:
        backup_database(store, "/tmp/never-written.db")
    message = str(caught.value)
    assert "pg_dump --format=custom" in message and "postgresql://ops@db.internal:5432/modelctl" in message
    assert "s3cret-pw" not in message and not os.path.exists("/tmp/never-written.db")


@pytest.mark.skipif(not os.environ.get("MODELCTL_TEST_DATABASE_URL"), reason="needs MODELCTL_TEST_DATABASE_URL")
def test_backup_command_on_postgresql_exits_1_with_the_hint(cli, tmp_path):
    err = cli("--db", os.environ["MODELCTL_TEST_DATABASE_URL"], "db", "backup", str(tmp_path / "x"), code=1).stderr
    assert "pg_dump" in err and not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- export


@pytest.mark.usefixtures("original_chains")
def test_export_holds_catalog_rollouts_gate_results_and_audit(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("MODELCTL_NOW", "2026-11-21T10:00:00Z")
    cli("promote", "gpt-6.1-sol", "--segments", "technical")  # challenging claude-sonnet-5-5 (see above)
    monkeypatch.setenv("MODELCTL_NOW", "2026-11-21T12:00:00Z")
    cli("upgrade", "tick")
    document = cli.json("db", "export")

    assert {"exported_at", "schema", "models", "providers", "rollouts", "gate_results", "audit"} <= set(document)
    models = {m["model_id"]: m for m in document["models"]}
    gpt_4o = models["gpt-4o-2024-08-06"]
    assert gpt_4o["provider"] == "openai" and "multimodal" in gpt_4o["capabilities"]
    [rollout] = document["rollouts"]
    assert (rollout["candidate_id"], rollout["phase"], rollout["segments"]) == (
        "gpt-6.1-sol", "shadow", ["technical"])
    assert document["gate_results"] and {g["rollout_id"] for g in document["gate_results"]} == {rollout["id"]}
    start = next(e for e in document["audit"] if e["action"] == "rollout-start")
    assert start["after"]["phase"] == "shadow"  # JSON objects, not JSON text
    assert {p["name"] for p in document["providers"]} >= {"openai", "anthropic"}

    out = tmp_path / "export.json"
    result = cli("db", "export", "--output", str(out))
    assert result.stdout == "" and "1 rollouts" in result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    written = json.loads(out.read_text())
    assert written["rollouts"] == document["rollouts"] and written["audit"] == document["audit"]
    table = cli("db", "export").stdout
    assert "gate_results" in table and "--json" in cli("db", "export").stderr


def test_export_to_a_place_that_cannot_be_written_names_it_and_exits_1(cli, tmp_path):
    out = tmp_path / "no such dir" / "export.json"

    result = cli("db", "export", "--output", str(out), code=1)

    assert result.stderr == f"error: {out}: cannot write (No such file or directory)\n"
    assert result.stdout == "" and not out.parent.exists()
