"""Rollouts as an operator and cron drive them: promote, tick through the phases, roll back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

CANDIDATE = "claude-sonnet-5-5"
# On the original design's chains, the technical chain's first model serves the segment and is challenged.
INCUMBENT = "claude-3-5-sonnet-20241022"
T0 = datetime(2026, 1, 5)  # every test stays before the first retirement of those chains (2026-02-19)

pytestmark = pytest.mark.usefixtures("original_chains")


def at(monkeypatch, hours: float) -> str:
    stamp = (T0 + timedelta(hours=hours)).isoformat() + "Z"
    monkeypatch.setenv("MODELCTL_NOW", stamp)
    return stamp


def calls(model_id, arm, *, n, start_h, end_h, success_rate=1.0, latency_ms=1000.0, segment="technical", tag=""):
    """n usage lines spread evenly over [start_h, end_h), with exactly the failures asked for, spread evenly."""
    failures = round(n * (1 - success_rate))
    lines = []
    for i in range(n):
        ts = T0 + timedelta(hours=start_h + (end_h - start_h) * i / n)
        lines.append(json.dumps({
            "model_id": model_id, "arm": arm, "segment": segment, "ts": ts.isoformat() + "Z",
            "latency_ms": latency_ms * (0.9 + 0.2 * ((i * 7919) % 100) / 100),
            "success": (i + 1) * failures // n == i * failures // n,
            "cost_usd": 0.001, "request_id": f"{model_id}-{arm}-{tag}{start_h}-{i}",
        }))
    return "\n".join(lines) + "\n"


def feed(cli, *chunks):
    cli("usage", "import", "-", input="".join(chunks))


def status(cli):
    return cli.json("upgrade", "status")


def audit_actions(cli):
    return [e["action"] for e in cli.json("audit") if e["action"].startswith("rollout-")]


def test_promote_starts_a_shadow_rollout_against_the_chain_head(cli, monkeypatch):
    at(monkeypatch, 0)
    cli("promote", CANDIDATE, "--segments", "technical")
    rows = status(cli)
    assert [e["phase"] for e in rows[0].pop("time_to_decision")] == ["shadow", "canary"]
    assert rows == [{
        "candidate_id": CANDIDATE, "incumbent_id": INCUMBENT, "segments": ["technical"], "phase": "shadow",
        "traffic_pct": 5.0, "phase_started_at": "2026-01-05T00:00:00Z",
        "reason": f"started by {os.environ.get('MODELCTL_ACTOR') or __import__('getpass').getuser()}: "
                  f"{CANDIDATE} challenges {INCUMBENT} on technical at shadow",
        "why": None,
    }]
    assert audit_actions(cli) == ["rollout-start"]
    err = cli("promote", "gpt-6.1-sol", "--segments", "technical", code=2).stderr
    assert "already has a rollout" in err and CANDIDATE in err


def test_promote_without_segments_challenges_each_segments_serving_head(cli, monkeypatch):
    at(monkeypatch, 0)
    started = cli.json("promote", "claude-opus-5-5")
    assert sorted((t["incumbent_id"], sorted(t["segments"])) for t in started) == [
        (INCUMBENT, ["technical"]), ("gpt-3.5-turbo-0125", ["simple"]),
        ("gpt-4o-2024-08-06", ["multimedia", "research"])]
    cli("rollback", "claude-opus-5-5")
    # with --replaces, the segments are those whose chain holds the incumbent
    started = cli.json("promote", "claude-opus-5-5", "--replaces", "claude-sonnet-5-5")
    assert [(t["incumbent_id"], sorted(t["segments"])) for t in started] == [
        ("claude-sonnet-5-5", ["research", "technical"])]
    # a text-only model cannot take the multimedia segment
    assert "multimodal" in cli("promote", "llama3.1:8b", "--segments", "multimedia", code=2).stderr


def test_a_good_candidate_goes_shadow_canary_full_by_cron_alone(cli, monkeypatch):
    at(monkeypatch, 0)
    cli("promote", CANDIDATE, "--segments", "technical")
    feed(cli, calls(INCUMBENT, "control", n=400, start_h=1, end_h=20),
         calls(CANDIDATE, "shadow", n=400, start_h=1, end_h=20))

    at(monkeypatch, 10)  # gates would pass, but the 24 h minimum is not reached
    waited = cli.json("upgrade", "tick")["rollouts"][0]
    assert waited["action"] == "wait" and "24 h minimum" in waited["reason"]

    at(monkeypatch, 25)
    moved = cli.json("upgrade", "tick")["rollouts"][0]
    assert (moved["action"], moved["phase"], moved["traffic_pct"]) == ("advance", "canary", 20.0)
    assert {g["verdict"] for g in moved["gates"]} == {"pass"}

    # the canary passes at its own stricter alpha (0.01): more calls than the shadow's 400
    feed(cli, calls(INCUMBENT, "control", n=800, start_h=26, end_h=90),
         calls(CANDIDATE, "canary", n=800, start_h=26, end_h=90))
    at(monkeypatch, 25 + 73)
    assert cli.json("upgrade", "tick")["rollouts"][0]["phase"] == "full"

    assert status(cli)[0]["phase"] == "full"
    statuses = {m["model_id"]: m["status"] for m in cli.json("models", "list")}
    assert statuses[CANDIDATE] == "stable" and statuses[INCUMBENT] == "deprecated"
    routed = cli.json("route", "Why does my Python script raise KeyError?", "--segment", "technical")
    assert routed["model_id"] == CANDIDATE
    assert INCUMBENT not in routed["fallback_models"]
    assert audit_actions(cli) == ["rollout-advance", "rollout-advance", "rollout-start"]
    assert cli.json("upgrade", "tick")["rollouts"] == []


def test_a_worse_candidate_is_rolled_back_at_once_with_the_evidence(cli, monkeypatch):
    at(monkeypatch, 0)
    cli("promote", CANDIDATE, "--segments", "technical")
    feed(cli, calls(INCUMBENT, "control", n=300, start_h=0.1, end_h=1.5),
         calls(CANDIDATE, "shadow", n=300, start_h=0.1, end_h=1.5, success_rate=0.7))
    at(monkeypatch, 2)  # far before the 24 h minimum: a shown regression does not wait
    report = cli.json("upgrade", "tick")
    assert report["rollouts"][0]["action"] == "rollback"
    assert status(cli)[0]["phase"] == "rolled_back" and status(cli)[0]["traffic_pct"] == 0

    gates = {g["gate"]: g for g in cli.json("evaluations", "--candidate", CANDIDATE)}
    assert gates["success_rate"]["verdict"] == "fail" and gates["success_rate"]["p_value"] < 0.001
    assert gates["success_rate"]["figures"]["rate_candidate"] == pytest.approx(0.7, abs=0.01)
    assert gates["success_rate"]["n_candidate"] == 300
    rollback = next(e for e in cli.json("audit") if e["action"] == "rollout-rollback")
    assert rollback["actor"].startswith("upgrade tick")
    assert any("success_rate fail" in g["summary"] for g in rollback["after"]["gates"])
    assert rollback["after"]["calls"] == {"incumbent": 300, "candidate": 300}


def test_a_regression_in_a_small_segment_is_not_averaged_away(cli, monkeypatch):
    """Found 5 of issue 16: pooled, 3,000 good technical calls hid 150 research calls 30 points worse."""
    at(monkeypatch, 0)
    cli("promote", CANDIDATE, "--replaces", INCUMBENT, "--segments", "technical,research")
    feed(cli, calls(INCUMBENT, "control", n=3000, start_h=0.1, end_h=1.5),
         calls(CANDIDATE, "shadow", n=3000, start_h=0.1, end_h=1.5),
         calls(INCUMBENT, "control", n=150, start_h=0.1, end_h=1.5, segment="research", tag="r"),
         calls(CANDIDATE, "shadow", n=150, start_h=0.1, end_h=1.5, success_rate=0.7, segment="research", tag="r"))
    at(monkeypatch, 2)
    report = cli.json("upgrade", "tick")
    assert report["rollouts"][0]["action"] == "rollback", report["rollouts"][0]["reason"]
    assert "research: success_rate fail" in report["rollouts"][0]["reason"]
    rows = cli.json("evaluations", "--candidate", CANDIDATE)
    verdicts = {(g["segment"], g["gate"]): g["verdict"] for g in rows}
    assert verdicts[("research", "success_rate")] == "fail"
    assert verdicts[("technical", "success_rate")] != "fail"
    assert {g["segment"]: g["n_candidate"] for g in rows if g["gate"] == "success_rate"} == {
        "technical": 3000, "research": 150}


def test_shadow_hands_on_at_its_maximum_and_canary_rejects_or_holds_at_its(cli, monkeypatch, original_chains):
    """Shadow is a screen (on_max: advance); only the canary's own evidence reaches full."""
    at(monkeypatch, 0)
    cli("promote", CANDIDATE, "--segments", "technical")
    feed(cli, calls(INCUMBENT, "control", n=30, start_h=1, end_h=40),
         calls(CANDIDATE, "shadow", n=25, start_h=1, end_h=40))  # screened (>= min_samples 20), undecided
    at(monkeypatch, 30)
    assert cli.json("upgrade", "tick")["rollouts"][0]["action"] == "wait"
    at(monkeypatch, 49)
    handed_on = cli.json("upgrade", "tick")["rollouts"][0]
    assert (handed_on["action"], handed_on["phase"], handed_on["traffic_pct"]) == ("advance", "canary", 20.0)
    assert "48 h maximum in shadow" in handed_on["reason"] and "no gate failed" in handed_on["reason"]

    feed(cli, calls(INCUMBENT, "control", n=30, start_h=50, end_h=200),
         calls(CANDIDATE, "canary", n=5, start_h=50, end_h=200))
    bundled = (os.path.dirname(__file__) + "/../../config/upgrade.yaml")
    holding = original_chains / "upgrade.yaml"
    with open(bundled) as shipped:
        holding.write_text(shipped.read().replace("on_timeout: reject", "on_timeout: hold"))
    at(monkeypatch, 49 + 169)
    held = cli.json("upgrade", "tick")["rollouts"][0]
    assert held["action"] == "hold" and "manual promote" in held["reason"]
    assert status(cli)[0]["phase"] == "canary"

    holding.unlink()
    rejected = cli.json("upgrade", "tick")["rollouts"][0]
    assert rejected["action"] == "reject" and status(cli)[0]["phase"] == "rejected"


def test_bad_upgrade_config_names_file_line_and_field(cli, monkeypatch, tmp_path):
    config = tmp_path / "bad-config"
    config.mkdir()
    (config / "upgrade.yaml").write_text(
        "phases:\n  shadow: {traffic_pct: 5, min_hours: 48, max_hours: 24}\n"
        "  canary: {traffic_pct: 10}\n  full: {traffic_pct: 100}\n")
    monkeypatch.setenv("MODELCTL_CONFIG_DIR", str(config))
    err = cli("upgrade", "tick", code=2).stderr
    assert "upgrade.yaml:2: phases.shadow.max_hours" in err


def test_dry_run_says_what_it_would_do_and_changes_nothing(cli, monkeypatch):
    at(monkeypatch, 0)
    cli("promote", CANDIDATE, "--segments", "technical")
    feed(cli, calls(INCUMBENT, "control", n=300, start_h=0.1, end_h=1.5),
         calls(CANDIDATE, "shadow", n=300, start_h=0.1, end_h=1.5, success_rate=0.7))
    at(monkeypatch, 2)
    before = cli.json("audit")
    dry = cli.json("upgrade", "tick", "--dry-run")
    assert dry["lease"] == "dry-run" and dry["rollouts"][0]["action"] == "rollback"
    assert not dry["rollouts"][0]["applied"]
    assert "would rollback" in cli("upgrade", "tick", "--dry-run").stderr
    assert status(cli)[0]["phase"] == "shadow"
    assert cli.json("evaluations") == [] and cli.json("audit") == before


def test_promote_ahead_of_the_gates_needs_yes(cli, monkeypatch):
    at(monkeypatch, 0)
    cli("promote", CANDIDATE, "--segments", "technical")
    at(monkeypatch, 1)
    err = cli("promote", CANDIDATE, code=2).stderr
    assert "do not promote" in err and "--yes" in err and "24 h minimum" in err
    moved = cli.json("promote", CANDIDATE, "--yes", "--traffic", "20")[0]
    assert (moved["phase"], moved["traffic_pct"]) == ("canary", 20.0)
    assert "ahead of the gates" in moved["reason"]
    assert "rollback" in cli("promote", CANDIDATE, "--to", "shadow", code=2).stderr
    assert "--yes" in cli("promote", "gpt-6.1-sol", "--segments", "research", "--to", "full", code=2).stderr


def test_canary_serves_its_share_deterministically_and_rollback_restores(cli, monkeypatch):
    at(monkeypatch, 0)
    cli("promote", CANDIDATE, "--segments", "technical", "--to", "canary", "--traffic", "50", "--yes")
    query = "Why does my Python script raise KeyError?"
    arms = {}
    for i in range(40):
        first = cli.json("route", query, "--segment", "technical", "--request-id", f"req-{i}")
        again = cli.json("route", query, "--segment", "technical", "--request-id", f"req-{i}")
        assert (first["model_id"], first["arm"]) == (again["model_id"], again["arm"])
        arms[first["arm"]] = first["model_id"]
    assert arms == {"canary": CANDIDATE, "control": INCUMBENT}

    rolled = cli.json("rollback", CANDIDATE, "--reason", "customer complaints")[0]
    assert rolled["phase"] == "rolled_back" and "customer complaints" in rolled["reason"]
    for i in range(10):
        decision = cli.json("route", query, "--segment", "technical", "--request-id", f"req-{i}")
        assert (decision["model_id"], decision["arm"]) == (INCUMBENT, "control")
    assert cli("rollback", CANDIDATE, code=3).stderr


def test_rollback_after_full_puts_the_incumbent_back_in_the_chain(cli, monkeypatch):
    at(monkeypatch, 0)
    cli("promote", CANDIDATE, "--segments", "technical", "--to", "full", "--yes")
    route = ("route", "Why does my Python script raise KeyError?", "--segment", "technical")
    assert cli.json(*route)["model_id"] == CANDIDATE
    cli("rollback", CANDIDATE)
    assert cli.json(*route)["model_id"] == INCUMBENT
    assert {m["model_id"]: m["status"] for m in cli.json("models", "list")}[INCUMBENT] == "stable"


def test_a_held_lease_keeps_a_second_tick_from_acting(cli, monkeypatch):
    from modelctl.services.database import open_database
    from modelctl.store.rollouts import take_lease

    now = datetime.fromisoformat(at(monkeypatch, 0)[:-1])
    cli("promote", CANDIDATE, "--segments", "technical")
    store = open_database()
    with store.write() as conn:
        assert take_lease(conn, holder="other-host:1", now=now, until=now + timedelta(minutes=10))
    with store.write() as conn:
        assert not take_lease(conn, holder="third:2", now=now, until=now + timedelta(minutes=10))
    report = cli.json("upgrade", "tick")
    assert report["lease"].startswith("held by other-host:1") and report["rollouts"] == []
    assert cli.json("evaluations") == []
    at(monkeypatch, 0.25)  # the lease has expired by the next cron step
    assert cli.json("upgrade", "tick")["lease"] == "taken"


def test_two_ticks_started_together_act_once(cli, monkeypatch, modelctl_home):
    stamp = at(monkeypatch, 0)
    cli("promote", CANDIDATE, "--segments", "technical")
    feed(cli, calls(INCUMBENT, "control", n=300, start_h=0.1, end_h=1.5),
         calls(CANDIDATE, "shadow", n=300, start_h=0.1, end_h=1.5, success_rate=0.7))
    env = {**os.environ, "MODELCTL_HOME": str(modelctl_home), "MODELCTL_NOW": stamp.replace("00:00:00", "02:00:00")}
    procs = [subprocess.Popen([sys.executable, "-m", "modelctl", "upgrade", "tick", "--json"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    acted = [r for r in reports if any(t["action"] == "rollback" for t in r["rollouts"])]
    assert len(acted) == 1
    assert audit_actions(cli).count("rollout-rollback") == 1
    gate_rows = cli.json("evaluations")
    assert len(gate_rows) == len({g["gate"] for g in gate_rows})  # one evaluation, not two
