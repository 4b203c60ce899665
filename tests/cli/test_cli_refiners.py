"""`modelctl refiners sweep`: refiners within the 500 / 800 ms refinement budget move to the front of
each chain, fastest p95 first; the order is stored, audited and used by `route --refinement`.

On the original design's chains (the `original_chains` fixture, on a day all their models are live)
the fast chain is gpt-4o-mini-2024-07-18 -> claude-3-5-haiku-20241022 -> gpt-6-luna ->
claude-haiku-5-5, and every refiner's catalog prior is over 500 ms, so only measured models route.
"""

from __future__ import annotations

import json

import pytest

from tests.fakes.fixtures import point_at_fakes

KEY = "sk-test-refiners-81b4c0d2e97a3f56"
MINI, OLD_HAIKU, LUNA, HAIKU = "gpt-4o-mini-2024-07-18", "claude-3-5-haiku-20241022", "gpt-6-luna", "claude-haiku-5-5"
QUERY = "fix my grammar: me and him goes"

pytestmark = pytest.mark.usefixtures("original_chains")


def _calls(model_id, latencies):
    return "".join(json.dumps({"model_id": model_id, "latency_ms": ms}) + "\n" for ms in latencies)


@pytest.fixture
def measured(cli):
    """30 calls each: mini at 300-474 ms, luna at 100-245 ms (both within budget, luna faster),
    claude-haiku-5-5 at 700-990 ms (over budget); gpt-5.4-mini only 5 calls at 50 ms (too few)."""
    cli("usage", "import", "-", input=(
        _calls(MINI, [300 + 6 * i for i in range(30)])
        + _calls(LUNA, [100 + 5 * i for i in range(30)])
        + _calls(HAIKU, [700 + 10 * i for i in range(30)])
        + _calls("gpt-5.4-mini-2026-03-17", [50] * 5)
    ))


def _refiner(cli, kind="fast"):
    return cli.json("route", "--refinement", "--refinement-type", kind, QUERY)["model_id"]


def _stored_orders():
    from modelctl.services.database import open_database

    return open_database().read("SELECT name, chain FROM refinement_order")


def test_sweep_puts_fast_refiners_first_and_routing_follows(cli, measured):
    assert _refiner(cli) == MINI  # first in policy order among those measured within 500 ms
    report = cli.json("refiners", "sweep")
    chains = {c["name"]: c for c in report["chains"]}
    fast = chains["fast"]
    assert fast["before"] == [MINI, OLD_HAIKU, LUNA, HAIKU]
    assert fast["after"] == [LUNA, MINI, OLD_HAIKU, HAIKU]
    assert fast["within_budget"] == [LUNA, MINI] and fast["applied"] is True
    assert chains["quality"]["after"][0] == MINI
    figures = {m["model_id"]: m for m in report["measurements"]}
    assert abs(figures[LUNA]["p95_ms"] - 240) <= 3 and abs(figures[MINI]["p50_ms"] - 384) <= 4
    assert figures[HAIKU]["p50_ms"] > 500 and figures[HAIKU]["note"] is None
    assert "5 calls" in figures["gpt-5.4-mini-2026-03-17"]["note"]  # 50 ms, but too few calls to trust

    assert _refiner(cli) == LUNA
    audited = [e for e in cli.json("audit") if e["action"] == "refiners-reorder"]
    assert {e["target"] for e in audited} == {"refinement:fast", "refinement:quality", "refinement:lmm"}
    entry = next(e for e in audited if e["target"] == "refinement:fast")
    assert entry["before"]["chain"][0] == MINI and entry["after"]["chain"][0] == LUNA
    assert entry["after"]["measurements"][LUNA]["calls"] == 30

    again = cli.json("refiners", "sweep")
    assert not any(c["changed"] for c in again["chains"])
    assert len([e for e in cli.json("audit") if e["action"] == "refiners-reorder"]) == 3


def test_dry_run_shows_the_order_and_writes_nothing(cli, measured):
    result = cli("refiners", "sweep", "--dry-run")
    assert f"fast: would become {LUNA} -> {MINI} -> {OLD_HAIKU} -> {HAIKU}" in result.stderr
    assert LUNA in result.stdout  # the measurements table
    report = cli.json("refiners", "sweep", "--dry-run")
    assert report["dry_run"] and not any(c["applied"] for c in report["chains"])
    assert _stored_orders() == []
    assert not [e for e in cli.json("audit") if e["action"] == "refiners-reorder"]
    assert _refiner(cli) == MINI


def test_a_refiner_that_slows_down_loses_its_place(cli, measured):
    cli("refiners", "sweep")
    assert _refiner(cli) == LUNA
    cli("usage", "import", "-", input=_calls(LUNA, [1500] * 60))  # now mostly over the 800 ms p95 budget
    report = cli.json("refiners", "sweep")
    fast = next(c for c in report["chains"] if c["name"] == "fast")
    assert fast["before"][0] == LUNA and fast["after"] == [MINI, OLD_HAIKU, LUNA, HAIKU]
    assert _refiner(cli) == MINI


def test_probe_measures_with_real_calls(cli, monkeypatch, fake_openai, fake_anthropic, sdks_imported):
    point_at_fakes(monkeypatch, KEY, openai=fake_openai, anthropic=fake_anthropic)
    fake_anthropic.fail_model(HAIKU, "delay", delay_s=0.9)  # every call takes 900 ms: over the p95 budget
    report = cli.json("refiners", "sweep", "--probe")
    figures = {m["model_id"]: m for m in report["measurements"]}
    assert all(m["source"] == "probe" for m in figures.values())
    assert figures[HAIKU]["p50_ms"] > 800 and figures[LUNA]["calls"] == 5
    fast = next(c for c in report["chains"] if c["name"] == "fast")
    assert fast["after"][-1] == HAIKU and HAIKU not in fast["within_budget"]
    assert set(fast["within_budget"]) == {MINI, OLD_HAIKU, LUNA}
    probes = [r for r in fake_openai.requests if r.method == "POST"]
    assert probes and all(r.json.get("max_tokens", r.json.get("max_completion_tokens")) == 5 for r in probes)
    by_segment = {r["key"]: r["calls"] for r in cli.json("stats", "--by", "segment")}
    assert by_segment == {"refiners:probe": 5 * len(figures)}


def test_probe_without_a_key_says_which_to_set(cli, monkeypatch, fake_openai):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    report = cli.json("refiners", "sweep", "--probe", "--dry-run")
    haiku = next(m for m in report["measurements"] if m["model_id"] == HAIKU)
    assert "set ANTHROPIC_API_KEY" in haiku["note"] and haiku["calls"] == 0
    assert _stored_orders() == []
