"""The judge against the fake providers: shadow pairs judged in both orders with only the verdict
stored, canary answers scored into their usage row (a user's feedback wins), the judge never the
candidate or the incumbent, its daily cap, and no prompt or answer text anywhere in the database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelctl import clock
from modelctl.errors import ConfigError
from modelctl.paths import config_dir, config_path
from modelctl.providers.base import ChatRequest
from modelctl.services import upgrade
from modelctl.services.database import open_database
from modelctl.services.feedback import record_feedback
from modelctl.services.judge import combine, follow_up, parse_choice
from modelctl.services.run import FollowUp, ShadowCall, run_query
from modelctl.store.judge import verdict_counts
from tests.fakes.fixtures import point_at_fakes

pytestmark = pytest.mark.usefixtures("sdks_imported")

KEY = "sk-test-judge-7e1d44c0b2a95f38"
CANDIDATE, INCUMBENT, JUDGE = "claude-haiku-5-5", "gpt-4o-2024-08-06", "gpt-6-luna"
PROMPT = "Which river runs through Zarnovica-17?"
CANDIDATE_ANSWER = "The Hron runs through Zarnovica-17, candidate-side."
INCUMBENT_ANSWER = "The Danube, incumbent-side."
_ANSWER_A = re.compile(r"Answer A:\n(.*?)\n\nAnswer B:", re.DOTALL)


def _configure(**judge) -> None:
    settings = {"model": JUDGE, "shadow_share": 1, "canary_share": 1, "daily_budget_usd": 5, **judge}
    text = config_path("upgrade.yaml").read_text()
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "upgrade.yaml").write_text(
        text + "judge:\n" + "".join(f"  {k}: {v}\n" for k, v in settings.items()))


@pytest.fixture
def env(monkeypatch, fake_openai, fake_anthropic):
    point_at_fakes(monkeypatch, KEY, openai=fake_openai, anthropic=fake_anthropic)
    fake_anthropic.set_answer(CANDIDATE_ANSWER)
    fake_openai.set_answer(INCUMBENT_ANSWER)
    _configure()
    store = open_database()
    return store, fake_openai, fake_anthropic


def _fair_judge(prompt: str) -> str:
    """Prefers the candidate's answer wherever it is shown."""
    return "A" if CANDIDATE_ANSWER in _ANSWER_A.search(prompt).group(1) else "**Answer B**"


def _judge_prompts(fake_openai) -> list[str]:
    return [r.json["messages"][-1]["content"] for r in fake_openai.requests if r.json.get("model") == JUDGE]


def _shadow(store, *, request_id="req-1"):
    upgrade.promote(store, CANDIDATE, replaces=INCUMBENT, segments=("simple",))
    return ShadowCall(request=ChatRequest(model_id=CANDIDATE, prompt=PROMPT), segment="simple",
                      request_id=request_id, attempt=1, budget_s=5.0, incumbent_answer=INCUMBENT_ANSWER)


def _verdicts(store):
    return store.read("SELECT candidate_id, incumbent_id, segment, request_id, verdict, judge_model, cost_usd "
                      "FROM judge_verdict ORDER BY id")


def test_a_shadow_pair_is_judged_in_both_orders_and_only_the_verdict_is_kept(env):
    store, fake_openai, _ = env
    fake_openai.answer_model(JUDGE, _fair_judge)
    follow_up(store, FollowUp(shadow=_shadow(store)))
    first, second = _judge_prompts(fake_openai)
    assert _ANSWER_A.search(first).group(1) == CANDIDATE_ANSWER  # the candidate shown first as A ...
    assert _ANSWER_A.search(second).group(1) == INCUMBENT_ANSWER  # ... then as B
    assert PROMPT in first and PROMPT in second
    [(candidate, incumbent, segment, request_id, verdict, judge, cost)] = _verdicts(store)
    assert (candidate, incumbent, segment, request_id, verdict, judge) == (
        CANDIDATE, INCUMBENT, "simple", "req-1", "win", JUDGE)
    assert cost > 0
    rows = store.read("SELECT model_id, arm, attempt FROM usage WHERE request_id = 'req-1' ORDER BY attempt")
    assert rows == [(CANDIDATE, "shadow", 1), (JUDGE, "judge", 2), (JUDGE, "judge", 3)]
    # judge calls rest nothing and count in no gate: the verdict is the only evidence they leave
    assert store.read("SELECT consecutive_failures FROM model WHERE model_id = :m", {"m": JUDGE}) == [(0,)]


def test_position_bias_cancels_and_a_garbled_reply_is_an_error_no_gate_counts(env):
    store, fake_openai, _ = env
    fake_openai.answer_model(JUDGE, lambda prompt: "A")  # always the first shown
    call = _shadow(store)
    follow_up(store, FollowUp(shadow=call))
    fake_openai.answer_model(JUDGE, lambda prompt: "Both are fine, really.")
    follow_up(store, FollowUp(shadow=ShadowCall(**{**_fields(call), "request_id": "req-2"})))
    assert [row[4] for row in _verdicts(store)] == ["tie", "error"]
    [rollout] = upgrade.rollout_status(store, active_only=True)
    counts = verdict_counts(store, rollout_id=rollout.id, segments=("simple",), start=rollout.started_at,
                            end=clock.now())
    assert (counts["simple"].wins, counts["simple"].ties, counts["simple"].losses) == (0, 1, 0)


def _fields(call):
    return {name: getattr(call, name) for name in call.__slots__}


def test_verdicts_from_both_orders():
    assert combine("A", "B") == "win" and combine("A", "TIE") == "win" and combine("TIE", "B") == "win"
    assert combine("B", "A") == "loss" and combine("TIE", "A") == "loss"
    assert combine("A", "A") == "tie" and combine("B", "B") == "tie" and combine("TIE", "TIE") == "tie"
    assert [parse_choice(t) for t in ("A", " b. ", "**TIE**", "Answer A", "tie")] == ["A", "B", "TIE", "A", "TIE"]
    assert [parse_choice(t) for t in ("A or B", "Neither", "", "AB")] == [None, None, None, None]


def test_the_judge_is_never_the_candidate_or_the_incumbent(env):
    store, fake_openai, _ = env
    call = _shadow(store)
    for model in (CANDIDATE, INCUMBENT):
        _configure(model=model)
        with pytest.raises(ConfigError, match="cannot judge its own answers"):
            upgrade.tick(store)
        follow_up(store, FollowUp(shadow=call))  # the worker skips judging it
    assert _verdicts(store) == [] and _judge_prompts(fake_openai) == []
    assert store.read("SELECT COUNT(*) FROM usage WHERE arm = 'judge'") == [(0,)]
    upgrade.rollback(store, CANDIDATE)
    with pytest.raises(ConfigError, match="is the incumbent"):
        upgrade.promote(store, CANDIDATE, replaces=INCUMBENT, segments=("simple",))


def test_the_daily_cap_stops_judging_and_status_shows_the_spend(env, cli):
    store, fake_openai, _ = env
    fake_openai.answer_model(JUDGE, _fair_judge)
    _configure(daily_budget_usd=0.0000001)  # the first judge call spends it all
    call = _shadow(store)
    follow_up(store, FollowUp(shadow=call))
    assert len(_judge_prompts(fake_openai)) == 1 and _verdicts(store) == []  # half a pair is no verdict
    follow_up(store, FollowUp(shadow=ShadowCall(**{**_fields(call), "request_id": "req-2"})))
    assert len(_judge_prompts(fake_openai)) == 1  # over the cap: no call at all
    spent = store.read("SELECT SUM(cost_usd) FROM usage WHERE arm = 'judge'")[0][0]
    [status] = cli.json("upgrade", "status")
    assert status["judge"] == {"model": JUDGE, "spent_today_usd": round(spent, 6), "daily_budget_usd": 1e-07}
    assert f"judge {JUDGE}: $" in cli("upgrade", "status").stderr


def test_canary_answers_are_scored_and_a_users_feedback_wins(env):
    store, fake_openai, _ = env
    fake_openai.answer_model(JUDGE, lambda prompt: "Score: 8/10" if CANDIDATE_ANSWER in prompt else "nope")
    upgrade.promote(store, CANDIDATE, replaces=INCUMBENT, segments=("simple",), to="canary", traffic_pct=100,
                    yes=True)
    scored = run_query(store, PROMPT, segment="simple", request_id="req-1")
    assert scored.arm == "canary" and scored.score is not None and scored.shadow is None
    follow_up(store, scored.followup)
    quality = "SELECT quality FROM usage WHERE request_id = :r AND arm = 'canary'"
    assert store.read(quality, {"r": "req-1"}) == [(0.8,)]

    rated = run_query(store, PROMPT, segment="simple", request_id="req-2")
    record_feedback(store, "req-2", score=0.3)
    follow_up(store, rated.followup)  # the judge comes later and leaves the user's score
    assert store.read(quality, {"r": "req-2"}) == [(0.3,)]
    assert store.read("SELECT COUNT(*) FROM usage WHERE arm = 'judge'") == [(2,)]


def test_no_prompt_or_answer_text_reaches_the_database(env):
    store, fake_openai, _ = env
    fake_openai.answer_model(JUDGE, _fair_judge)
    follow_up(store, FollowUp(shadow=_shadow(store)))
    assert _verdicts(store)
    if not store.url.startswith("sqlite"):
        pytest.skip("reads the SQLite file's bytes")
    path = Path(store.url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # the WAL too
    assert CANDIDATE.encode() in stored  # the file is read: the model ids are there
    for text in (PROMPT, CANDIDATE_ANSWER, INCUMBENT_ANSWER, "Zarnovica"):
        assert text.encode() not in stored


def test_the_shadow_phase_is_gated_on_the_verdicts(env):
    store, fake_openai, _ = env
    fake_openai.answer_model(JUDGE, lambda prompt: "B" if CANDIDATE_ANSWER in _ANSWER_A.search(prompt).group(1)
                             else "A")  # the incumbent's answer wins every look
    call = _shadow(store)
    for n in range(25):
        follow_up(store, FollowUp(shadow=ShadowCall(**{**_fields(call), "request_id": f"req-{n}"})))
    [transition] = upgrade.tick(store, dry_run=True).transitions
    [gate] = [g for g in transition.evidence["gates"] if g["gate"] == "judged_quality"]
    assert gate["segment"] == "simple" and gate["verdict"] == "fail" and "lost 25 of 25" in gate["summary"]
    assert transition.action == "rollback"
