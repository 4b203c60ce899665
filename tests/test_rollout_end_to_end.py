"""A whole rollout through `run` against the fake providers (issue 16, build F): promote -> shadow
calls at the configured share, never the answer the user gets -> the judge's verdicts stored ->
`upgrade tick` -> canary serves its share -> full -> routing serves the candidate.

Requests go through run's service (`run_query`, then the follow-up `modelctl run` hands to its
detached worker) so a few hundred of them take seconds; tests/cli/test_cli_run_rollouts.py runs the
real process. The test's upgrade.yaml has short phases and wide tolerances, so about a hundred calls
per arm decide: the gates' statistics are simulated in tests/benchmarks/rollout_sim.py.
"""

from __future__ import annotations

import re

import pytest

from modelctl.paths import config_dir
from modelctl.services.database import open_database
from modelctl.services.judge import follow_up
from modelctl.services.run import run_query
from tests.fakes.fixtures import point_at_fakes

pytestmark = pytest.mark.usefixtures("sdks_imported")

KEY = "sk-test-e2e-5a0c9d7e3b1f4862"
CANDIDATE, INCUMBENT, JUDGE = "claude-haiku-5-5", "gpt-4o-2024-08-06", "gpt-6-luna"
# The incumbent heads simple here whatever the bundled defaults say (the judge is never in a chain).
POLICY_YAML = f"""\
segments:
  simple: {{chain: [{INCUMBENT}, gpt-6.1-sol], budget_seconds: 5}}
  technical: {{chain: [gpt-6.1-sol], budget_seconds: 7}}
  research: {{chain: [gpt-6.1-sol], budget_seconds: 10}}
  multimedia: {{chain: [gpt-6.1-sol], budget_seconds: 10}}
"""
PROMPT = "Which river runs through Zarnovica-17?"
CANDIDATE_ANSWER = "The Hron, candidate-side."
INCUMBENT_ANSWER = "The Danube, incumbent-side."
_ANSWER_A = re.compile(r"Answer A:\n(.*?)\n\nAnswer B:", re.DOTALL)
UPGRADE_YAML = f"""\
on_timeout: reject
phases:
  shadow: {{traffic_pct: 80, min_hours: 1, max_hours: 10, min_samples: 20}}
  canary: {{traffic_pct: 50, min_hours: 1, max_hours: 10, min_samples: 20, alpha: 0.45}}
  full: {{traffic_pct: 100}}
gates: {{alpha: 0.45, fail_alpha: 0.0001, success_margin: 0.3, latency_p95_max_ratio: 1000,
        cost_max_ratio: 1000, quality_margin: 0.5, min_samples: 20}}
judge: {{model: {JUDGE}, shadow_share: 0.5, canary_share: 0.5, daily_budget_usd: 5, margin: 0.5}}
"""


def _judge(prompt: str) -> str:
    """Prefers the candidate's answer in a pair; grades every single answer 8/10."""
    pair = _ANSWER_A.search(prompt)
    if pair is None:
        return "Score: 8/10"
    return "A" if CANDIDATE_ANSWER in pair.group(1) else "B"


def _at(monkeypatch, minutes: int) -> None:
    monkeypatch.setenv("MODELCTL_NOW", f"2026-12-01T{minutes // 60:02d}:{minutes % 60:02d}:00Z")


def _serve(store, monkeypatch, *, first: int, count: int, minute: int) -> list:
    """`count` requests as `modelctl run` serves them: the answer first, then its follow-up."""
    _at(monkeypatch, minute)
    results = []
    for n in range(first, first + count):
        result = run_query(store, PROMPT, segment="simple", request_id=f"req-{n}")
        if result.followup is not None:
            follow_up(store, result.followup)
        results.append(result)
    return results


def test_a_candidate_goes_from_promote_to_full_through_run(monkeypatch, fake_openai, fake_anthropic, cli):
    point_at_fakes(monkeypatch, KEY, openai=fake_openai, anthropic=fake_anthropic)
    fake_anthropic.set_answer(CANDIDATE_ANSWER)
    fake_openai.set_answer(INCUMBENT_ANSWER)
    fake_openai.answer_model(JUDGE, _judge)
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "upgrade.yaml").write_text(UPGRADE_YAML)
    (config_dir() / "policy.yaml").write_text(POLICY_YAML)
    store = open_database()
    _at(monkeypatch, 0)
    cli("promote", CANDIDATE, "--replaces", INCUMBENT, "--segments", "simple")

    shadowed = _serve(store, monkeypatch, first=0, count=300, minute=10)
    assert {(r.model_id, r.arm, r.answer) for r in shadowed} == {(INCUMBENT, "control", INCUMBENT_ANSWER)}
    shadow_calls = [r for r in shadowed if r.shadow is not None]
    assert 0.7 < len(shadow_calls) / len(shadowed) < 0.9  # the configured 80%
    [(shadow_rows,)] = store.read("SELECT COUNT(*) FROM usage WHERE arm = 'shadow' AND model_id = :m",
                                  {"m": CANDIDATE})
    assert shadow_rows == len(shadow_calls)
    verdicts = dict(store.read("SELECT verdict, COUNT(*) FROM judge_verdict WHERE candidate_id = :m "
                               "GROUP BY verdict", {"m": CANDIDATE}))
    assert set(verdicts) == {"win"} and verdicts["win"] > 20  # the judge preferred the candidate each time

    _at(monkeypatch, 50)
    assert cli.json("upgrade", "tick")["rollouts"][0]["action"] == "wait"  # the 1 h minimum
    _at(monkeypatch, 70)
    moved = cli.json("upgrade", "tick")["rollouts"][0]
    assert (moved["action"], moved["phase"], moved["traffic_pct"]) == ("advance", "canary", 50.0), moved["reason"]
    assert {(g["gate"], g["verdict"]) for g in moved["gates"]} >= {("judged_quality", "pass"),
                                                                    ("success_rate", "pass")}

    served = _serve(store, monkeypatch, first=1000, count=500, minute=80)
    arms = {(r.arm, r.model_id, r.answer) for r in served}
    assert arms == {("canary", CANDIDATE, CANDIDATE_ANSWER), ("control", INCUMBENT, INCUMBENT_ANSWER)}
    assert 0.4 < sum(r.arm == "canary" for r in served) / len(served) < 0.6  # the configured 50%
    assert all(r.shadow is None for r in served)
    [(scored,)] = store.read("SELECT COUNT(*) FROM usage WHERE arm IN ('canary', 'control') AND quality = 0.8")
    assert scored > 150  # the judge's 8/10 on its share of both arms' answers

    _at(monkeypatch, 150)
    done = cli.json("upgrade", "tick")["rollouts"][0]
    assert (done["action"], done["phase"]) == ("advance", "full"), done["reason"]
    assert "quality" in {g["gate"] for g in done["gates"]}
    routed = cli.json("route", PROMPT, "--segment", "simple")
    assert routed["model_id"] == CANDIDATE
    after = run_query(store, PROMPT, segment="simple", request_id="req-after")
    assert (after.model_id, after.answer, after.shadow) == (CANDIDATE, CANDIDATE_ANSWER, None)
