"""The autopilot (issue 16, builds B and C) through the real CLI: `upgrade tick` starts rollouts of
newer candidates and of retiring models' successors by itself, audits a retired model's substitution
once, explains every action, and notifies a loopback webhook; `--dry-run` changes nothing.

Time is stepped with MODELCTL_NOW from T0 = 2026-12-01. On T0 the bundled catalog has
claude-3-5-sonnet-20241022 retired (successor claude-sonnet-5-5) and gpt-4o-2024-08-06 retiring on
2027-01-14 (in 44 days, successor gpt-6-luna); gpt-4o's retirement is inside the horizon only where a
test sets it to 60 days.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.fakes.fixtures import point_at_fakes
from tests.fakes.webhook import Answer, FakeWebhook

T0 = datetime(2026, 12, 1)
# The original design's chains, gpt-4o-2024-08-06 among them: the autopilot's rules are about a
# chain model's family, retirement and successor, not about whichever models the bundled defaults name.
pytestmark = pytest.mark.usefixtures("original_chains")
KEY = "sk-test-autopilot-7d2e9c41b6a0f358"
GPT4O = "gpt-4o-2024-08-06"
NEW_GPT4O = "gpt-4o-2024-11-20"
BUNDLED = Path(__file__).parent.parent.parent / "config" / "upgrade.yaml"
# Three cases: `evaluate` decides with a paired test, which one case cannot pass.
SUITE = "".join(f"""\
- id: capital-{n}
  segment: research
  prompt: What is the capital of France? ({n})
  checks:
    - contains: Paris
""" for n in range(3))
# The bundled gpt-4o-2024-08-06's facts, which a matching candidate of its family equals or beats.
GPT4O_FACTS = {
    "provider": "openai", "family": "gpt-4o", "status": "candidate",
    "capabilities": ["text_generation", "multimodal", "tool_use", "long_context", "streaming", "function_calling"],
    "costs": {"input_tokens_per_1k": 0.0025, "output_tokens_per_1k": 0.01},
    "limits": {"max_context_tokens": 128000, "max_output_tokens": 16384},
}


def at(monkeypatch, hours: float) -> None:
    monkeypatch.setenv("MODELCTL_NOW", (T0 + timedelta(hours=hours)).isoformat() + "Z")


@pytest.fixture
def webhook(monkeypatch) -> Iterator[FakeWebhook]:
    hook = FakeWebhook()
    monkeypatch.setenv("MODELCTL_WEBHOOK_URL", hook.url)
    try:
        yield hook
    finally:
        hook.close()


@pytest.fixture
def providers(monkeypatch, fake_openai, fake_anthropic, sdks_imported):
    point_at_fakes(monkeypatch, KEY, openai=fake_openai, anthropic=fake_anthropic)
    fake_openai.set_answer("Paris is the capital of France.")
    fake_anthropic.set_answer("I cannot say.")
    return fake_openai, fake_anthropic


@pytest.fixture
def autopilot(tmp_path, monkeypatch):
    """autopilot(**settings): an upgrade.yaml with the autopilot enabled and these settings."""
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    monkeypatch.setenv("MODELCTL_CONFIG_DIR", str(config))

    def write(**settings):
        section = {"enabled": True, "max_active_rollouts": 3, "price_ratio_max": 1.0,
                   "retirement_horizon_days": 30, "eval_suite": str(suite), **settings}
        (config / "upgrade.yaml").write_text(BUNDLED.read_text() + "\n" + yaml.safe_dump({"autopilot": section}))

    write()
    return write


def add_models(cli, tmp_path, *models):
    path = tmp_path / f"models-{len(list(tmp_path.glob('models-*')))}.yaml"
    path.write_text(yaml.safe_dump({"models": list(models)}))
    cli("models", "import", str(path))


def candidate(model_id=NEW_GPT4O, version="2024-11-20", **changes):
    return {**GPT4O_FACTS, "model_id": model_id, "version": version, **changes}


def audits(cli, action):
    return [e for e in cli.json("audit", "--limit", "1000") if e["action"] == action]


def events(hook):
    return [(r.json["event"], r.json["candidate"], r.json["incumbent"]) for r in hook.requests]


def test_a_matching_candidate_is_evaluated_then_rolled_out_and_explained(cli, monkeypatch, tmp_path, autopilot,
                                                                          providers, webhook):
    at(monkeypatch, 0)
    add_models(cli, tmp_path, candidate())
    report = cli.json("upgrade", "tick")
    (start,) = [a for a in report["autopilot"] if a["rule"] == "newer-in-family"]
    assert (start["action"], start["candidate_id"], start["model_id"], start["applied"]) == (
        "start", NEW_GPT4O, GPT4O, True)
    assert sorted(start["segments"]) == ["multimedia", "research", "simple", "technical"]
    assert start["evaluation"]["passed"] and "candidate not worse" in start["evaluation"]["why"]

    (row,) = cli.json("upgrade", "status")
    assert (row["candidate_id"], row["incumbent_id"], row["phase"]) == (NEW_GPT4O, GPT4O, "shadow")
    assert row["why"].startswith("autopilot (newer-in-family): gpt-4o-2024-11-20 is a newer gpt-4o")
    assert "newer-in-family" in cli("upgrade", "status").stdout
    (started,) = audits(cli, "rollout-start")
    assert started["actor"] == "autopilot" and started["after"]["autopilot"]["rule"] == "newer-in-family"
    assert audits(cli, "autopilot-evaluate")[0]["after"]["passed"] is True
    assert ("rollout_started", NEW_GPT4O, GPT4O) in events(webhook)

    # the next tick neither evaluates nor starts it again
    calls = len(providers[0].requests)
    again = cli.json("upgrade", "tick")["autopilot"]
    assert not [a for a in again if a["rule"] == "newer-in-family"]
    assert len(providers[0].requests) == calls and len(cli.json("upgrade", "status")) == 1


@pytest.mark.parametrize(("changes", "rule"), [
    ({"version": "2024-05-13"}, "newer"),
    ({"version": "latest"}, "newer"),
    ({"costs": {"input_tokens_per_1k": 0.003, "output_tokens_per_1k": 0.01}}, "price"),
    ({"costs": {}}, "price"),
    ({"limits": {"max_context_tokens": 64000}}, "context"),
    ({"capabilities": ["text_generation", "tool_use", "long_context", "streaming", "function_calling"]},
     "capabilities"),
])
def test_a_candidate_missing_one_rule_is_left_alone_and_the_rule_named(cli, monkeypatch, tmp_path, autopilot,
                                                                        changes, rule):
    at(monkeypatch, 0)
    add_models(cli, tmp_path, candidate(**changes))
    (skip,) = [a for a in cli.json("upgrade", "tick")["autopilot"] if a["candidate_id"] == NEW_GPT4O]
    assert skip["action"] == "skip" and skip["failed_rules"] == [rule], skip["why"]
    assert cli.json("upgrade", "status") == []


def test_a_price_within_the_ratio_matches(cli, monkeypatch, tmp_path, autopilot, providers):
    at(monkeypatch, 0)
    autopilot(price_ratio_max=1.5)
    add_models(cli, tmp_path, candidate(costs={"input_tokens_per_1k": 0.003, "output_tokens_per_1k": 0.012}))
    (start,) = [a for a in cli.json("upgrade", "tick")["autopilot"] if a["candidate_id"] == NEW_GPT4O]
    assert start["action"] == "start"


def test_a_family_in_no_chain_is_left_alone(cli, monkeypatch, tmp_path, autopilot):
    at(monkeypatch, 0)
    add_models(cli, tmp_path, candidate("mistral-large-2411", family="mistral-large", version="2411"))
    (skip,) = [a for a in cli.json("upgrade", "tick")["autopilot"] if a["candidate_id"] == "mistral-large-2411"]
    assert skip["action"] == "skip" and "no chain has a serving model of its family mistral-large" in skip["why"]


def test_a_candidate_failing_its_offline_evaluation_is_not_started_nor_evaluated_again(
        cli, monkeypatch, tmp_path, autopilot, providers):
    at(monkeypatch, 0)
    add_models(cli, tmp_path, candidate(provider="anthropic"))  # answers "I cannot say."
    (rejected,) = [a for a in cli.json("upgrade", "tick")["autopilot"] if a["candidate_id"] == NEW_GPT4O]
    assert rejected["action"] == "reject" and "candidate worse" in rejected["why"]
    assert cli.json("upgrade", "status") == []
    asked = len(providers[1].requests)
    (again,) = [a for a in cli.json("upgrade", "tick")["autopilot"] if a["candidate_id"] == NEW_GPT4O]
    assert again["action"] == "reject" and len(providers[1].requests) == asked
    assert len(audits(cli, "autopilot-evaluate")) == 1


def test_at_most_max_active_rollouts_are_started(cli, monkeypatch, tmp_path, autopilot, providers):
    at(monkeypatch, 0)
    autopilot(max_active_rollouts=1)
    add_models(cli, tmp_path, candidate(),
               candidate("claude-sonnet-5-6", version="5.6", family="claude-sonnet", provider="openai",
                         costs={"input_tokens_per_1k": 0.002, "output_tokens_per_1k": 0.01},
                         limits={"max_context_tokens": 1000000}))
    actions = {a["candidate_id"]: a for a in cli.json("upgrade", "tick")["autopilot"] if a["candidate_id"]}
    assert actions["claude-sonnet-5-6"]["action"] == "start"
    assert actions[NEW_GPT4O]["action"] == "wait" and "max_active_rollouts" in actions[NEW_GPT4O]["why"]
    assert [r["candidate_id"] for r in cli.json("upgrade", "status", "--active")] == ["claude-sonnet-5-6"]


def test_a_retiring_model_gets_its_successor_and_a_retired_one_is_substituted_once(cli, monkeypatch, autopilot,
                                                                                    webhook):
    at(monkeypatch, 0)
    autopilot(retirement_horizon_days=60)
    report = cli.json("upgrade", "tick")
    by_rule = {a["rule"]: a for a in report["autopilot"]}
    start = by_rule["retiring-successor"]
    assert (start["action"], start["candidate_id"], start["model_id"]) == ("start", "gpt-6-luna", GPT4O)
    (row,) = cli.json("upgrade", "status")
    assert row["candidate_id"] == "gpt-6-luna" and row["why"].startswith("autopilot (retiring-successor)")
    assert "retires on 2027-01-14 (in 44 days)" in row["why"]

    retired = {e["target"]: e for e in audits(cli, "autopilot-substitute")}
    assert set(retired) == {"claude-3-5-sonnet-20241022", "gpt-3.5-turbo-0125"}
    sonnet = retired["claude-3-5-sonnet-20241022"]
    assert sonnet["actor"] == "autopilot" and sonnet["after"]["successor"] == "claude-sonnet-5-5"
    assert sorted(sonnet["after"]["chains"]) == ["research", "simple", "technical"]
    assert retired["gpt-3.5-turbo-0125"]["after"]["successor"] == "gpt-5.6-terra"

    at(monkeypatch, 1)
    cli("upgrade", "tick")
    assert len(audits(cli, "autopilot-substitute")) == 2  # idempotent across ticks

    at(monkeypatch, 45 * 24)  # gpt-4o's date has passed, its successor's rollout still in shadow
    cli("upgrade", "tick")
    subs = {e["target"]: e["after"] for e in audits(cli, "autopilot-substitute")}
    assert subs[GPT4O]["successor"] == "gpt-6-luna" and subs[GPT4O]["rollout"]["phase"] in ("shadow", "rejected")
    assert sorted(subs[GPT4O]["chains"]) == ["multimedia", "research", "simple", "technical"]
    assert "gpt-6-luna takes its place in simple" in cli("upgrade", "status").stderr
    cli("upgrade", "tick")
    assert len(audits(cli, "autopilot-substitute")) == 3  # gpt-3.5, claude-3-5-sonnet, gpt-4o: once each

    sent = events(webhook)
    assert sent.count(("rollout_started", "gpt-6-luna", GPT4O)) == 1
    assert sent.count(("successor_took_over", "claude-sonnet-5-5", "claude-3-5-sonnet-20241022")) == 1
    assert sent.count(("successor_took_over", "gpt-6-luna", GPT4O)) == 1


def test_a_retirement_without_successor_is_notified_once_a_day(cli, monkeypatch, tmp_path, autopilot, webhook):
    at(monkeypatch, 0)
    autopilot(retirement_horizon_days=60)
    bundled = yaml.safe_load((BUNDLED.parent / "models.yaml").read_text())["models"]
    gpt4o = next(m for m in bundled if m["model_id"] == GPT4O)
    add_models(cli, tmp_path, {**gpt4o, "successor": None})
    for hours in (0, 1, 2):
        at(monkeypatch, hours)
        cli("upgrade", "tick")
    at(monkeypatch, 25)
    cli("upgrade", "tick")
    warned = [e for e in events(webhook) if e[0] == "retirement_without_successor"]
    assert warned == [("retirement_without_successor", None, GPT4O)] * 2
    assert len(audits(cli, "autopilot-retirement-warning")) == 2


def test_dry_run_shows_the_autopilots_actions_and_changes_nothing(cli, monkeypatch, tmp_path, autopilot, providers,
                                                                  webhook):
    at(monkeypatch, 0)
    add_models(cli, tmp_path, candidate("claude-sonnet-5-6", version="5.6", family="claude-sonnet",
                                        costs={"input_tokens_per_1k": 0.002, "output_tokens_per_1k": 0.01},
                                        limits={"max_context_tokens": 1000000}))
    before = cli.json("audit", "--limit", "1000")
    asked = len(providers[0].requests)
    dry = cli.json("upgrade", "tick", "--dry-run")["autopilot"]
    assert {(a["rule"], a["action"]) for a in dry} >= {
        ("retired-substitution", "substitute"), ("newer-in-family", "start")}
    assert not any(a["applied"] for a in dry)
    newer = next(a for a in dry if a["rule"] == "newer-in-family")
    assert "would first evaluate it" in newer["why"]
    assert "autopilot: would start" in cli("upgrade", "tick", "--dry-run").stderr
    assert cli.json("upgrade", "status") == [] and cli.json("audit", "--limit", "1000") == before
    assert len(providers[0].requests) == asked and webhook.requests == []


def test_autopilot_is_off_by_default(cli, monkeypatch, tmp_path):
    at(monkeypatch, 0)
    add_models(cli, tmp_path, candidate())
    assert cli.json("upgrade", "tick")["autopilot"] == []
    assert cli.json("upgrade", "status") == []


def test_manual_promote_and_rollback_notify_and_a_refused_notification_is_shown_and_audited(cli, monkeypatch,
                                                                                             webhook):
    at(monkeypatch, 0)
    cli("promote", "claude-sonnet-5-5", "--segments", "technical")
    webhook.answer_next(Answer(status=404))
    result = cli("rollback", "claude-sonnet-5-5", "--reason", "testing")
    assert events(webhook) == [("rollout_started", "claude-sonnet-5-5", GPT4O),
                               ("rolled_back", "claude-sonnet-5-5", GPT4O)]
    assert "warning: notification rolled_back to 127.0.0.1 refused: HTTP 404" in result.stderr
    (failed,) = audits(cli, "notify-failed")
    assert failed["after"]["event"] == "rolled_back" and "secret-path" not in str(failed)


def test_a_hanging_webhook_holds_the_tick_at_most_max_seconds_in_all(cli, monkeypatch, autopilot, webhook):
    at(monkeypatch, 0)
    autopilot(retirement_horizon_days=60)
    config = Path(os.environ["MODELCTL_CONFIG_DIR"]) / "upgrade.yaml"
    config.write_text(config.read_text() + "notify: {max_seconds: 1}\n")
    webhook.answer_next(*[Answer(delay_s=3)] * 5)
    started = time.monotonic()
    report = cli.json("upgrade", "tick")
    assert time.monotonic() - started < 3  # two events (a start and a substitution), one second for both
    warnings = [a["notification"]["warning"] for a in report["autopilot"] if "notification" in a]
    assert warnings and all(warnings)


def test_promote_and_status_estimate_the_time_to_decision_and_warn_when_too_slow(cli, monkeypatch):
    at(monkeypatch, 0)
    stamps = [(T0 - timedelta(hours=48) + timedelta(minutes=30 * i)).isoformat() + "Z" for i in range(96)]
    lines = "".join(f'{{"model_id": "{GPT4O}", "segment": "technical", "ts": "{ts}", "latency_ms": 900, '
                    f'"success": true, "request_id": "r{i}"}}\n' for i, ts in enumerate(stamps))  # 2 requests/hour
    cli("usage", "import", "-", input=lines)
    result = cli("promote", "claude-sonnet-5-5", "--segments", "technical")
    assert "shadow: an equal candidate needs" in result.stderr
    assert "warning: shadow on technical (2.0 requests/h) needs about" in result.stderr
    assert "traffic_pct or max_hours" in result.stderr
    (row,) = cli.json("upgrade", "status")
    shadow, canary = row["time_to_decision"]
    assert shadow["requests_per_hour"] == pytest.approx(2.0) and shadow["hours"] > shadow["max_hours"] == 48
    assert canary["phase"] == "canary" and canary["warning"]
    assert "warning: claude-sonnet-5-5 vs gpt-4o-2024-08-06: shadow on technical" in cli("upgrade", "status").stderr
