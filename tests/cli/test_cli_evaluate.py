"""`modelctl evaluate` against the fake providers: each check type scores what it should, the scores
land in `eval show`, a judge's grade is parsed or reported, and a broken suite names file and line.

The candidate (claude-sonnet-5-5) answers from the fake Anthropic server, the incumbent
(gpt-4o-2024-08-06) from the fake OpenAI one, so each side's answer is set independently. Most
cases run as segment research: its 10 s budget leaves room for a first SDK call on a busy machine.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.fakes.fixtures import point_at_fakes

pytestmark = pytest.mark.usefixtures("sdks_imported")

KEY = "sk-test-evaluate-3f9c2a71d4e8b605"
CANDIDATE, INCUMBENT, JUDGE = "claude-sonnet-5-5", "gpt-4o-2024-08-06", "llama3.1:8b"
JSON_ANSWER = '{"name": "Ada Lovelace", "born": 1815, "field": "mathematics"}'
PARIS = "Paris is the capital of France."

SUITE = """\
- id: contains
  prompt: What is the capital of France?
  checks:
    - contains: PARIS
- id: regex
  prompt: When was Ada Lovelace born, and what is the capital of France?
  checks:
    - regex: '\\b1815\\b'
    - regex: 'Paris'
- id: exact
  prompt: Say exactly "Paris is the capital of France."
  checks:
    - exact: "Paris is the capital of France."
- id: json
  prompt: Describe Ada Lovelace as JSON.
  checks:
    - json_schema:
        type: object
        required: [name, born, field]
        properties:
          name: {type: string}
          born: {type: integer}
          field: {enum: [mathematics, physics]}
- id: json-enum
  prompt: Describe Ada Lovelace as JSON.
  checks:
    - json_schema:
        properties:
          field: {enum: [physics, chemistry]}
"""


@pytest.fixture
def providers(monkeypatch, fake_openai, fake_anthropic, fake_ollama):
    point_at_fakes(monkeypatch, KEY, openai=fake_openai, anthropic=fake_anthropic, ollama=fake_ollama)
    fake_anthropic.set_answer(JSON_ANSWER)
    fake_openai.set_answer(PARIS)
    return fake_openai, fake_anthropic, fake_ollama


@pytest.fixture
def suite(tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text(SUITE)
    return path


def _by_case(report):
    return {c["id"]: c for c in report["cases"]}


def test_each_check_type_scores_the_fraction_that_passes(cli, providers, suite):
    report = cli.json("evaluate", CANDIDATE, "--against", INCUMBENT, "--suite", str(suite), "--segment", "research")
    cases = _by_case(report)
    scores = {case: (c["candidate"]["score"], c["incumbent"]["score"]) for case, c in cases.items()}
    assert scores == {
        "contains": (0.0, 1.0),    # case-insensitive: "PARIS" is in the incumbent's answer
        "regex": (0.5, 0.5),       # the JSON has 1815 but no Paris; the sentence the other way round
        "exact": (0.0, 1.0),
        "json": (1.0, 0.0),        # the sentence is not JSON at all
        "json-enum": (0.0, 0.0),   # valid JSON, but "mathematics" is not in the enum
    }
    assert cases["json"]["incumbent"]["checks"][0]["why"] == "is not JSON"
    assert "not one of" in cases["json-enum"]["candidate"]["checks"][0]["why"]
    assert cases["regex"]["candidate"]["checks_passed"] == 1
    assert cases["contains"]["candidate"]["model_id"] == CANDIDATE
    assert cases["contains"]["incumbent"]["model_id"] == INCUMBENT

    summary = report["summary"]
    assert summary["candidate"]["mean_score"] == pytest.approx(1.5 / 5)
    assert summary["incumbent"]["mean_score"] == pytest.approx(2.5 / 5)
    comparison = summary["comparison"]
    assert comparison["mean_difference"] == pytest.approx(-0.2)
    assert (comparison["wins"], comparison["losses"], comparison["ties"]) == (1, 2, 2)
    # Worse by the point estimate, but 1 loss more than wins in 5 cases shows nothing either way.
    assert comparison["verdict"] == "inconclusive" and comparison["p_value"] > comparison["alpha"]
    assert summary["candidate"]["cost_usd"] > 0 and summary["candidate"]["mean_latency_ms"] > 0


def test_the_same_answers_are_not_worse_and_the_table_says_so(cli, providers, suite):
    result = cli("evaluate", "gpt-6-luna", "--against", INCUMBENT, "--suite", str(suite), "--segment", "research")
    assert "candidate not worse: mean paired difference +0.000" in result.stderr
    assert "stored 10 scores as evaluate:mini" in result.stderr
    assert "gpt-6-luna" in result.stdout and "json-enum" in result.stdout


def test_scores_are_stored_and_calls_recorded_as_usage(cli, providers, suite):
    cli.json("evaluate", CANDIDATE, "--against", INCUMBENT, "--suite", str(suite), "--segment", "technical")
    learned = {(r["segment"], r["model_id"]): r for r in cli.json("eval", "show")}
    assert learned[("technical", CANDIDATE)]["n"] == 5
    assert learned[("technical", CANDIDATE)]["mean"] == pytest.approx(0.3)
    assert learned[("technical", INCUMBENT)]["mean"] == pytest.approx(0.5)
    assert learned[("technical", INCUMBENT)]["mean_cost_usd"] > 0
    usage = {r["key"]: r["calls"] for r in cli.json("stats", "--by", "segment")}
    assert usage == {"evaluate:mini": 10}  # kept out of every real segment's gate window
    [entry] = [e for e in cli.json("audit") if e["action"] == "evaluate"]
    assert entry["target"] == CANDIDATE and entry["after"]["scores"] == 10


def test_default_incumbent_is_the_head_of_the_segment_chain(cli, providers, suite):
    report = cli.json("evaluate", CANDIDATE, "--suite", str(suite), "--segment", "simple")
    assert {c["incumbent"]["model_id"] for c in report["cases"]} == {cli.json("route", "hi")["model_id"]}


def test_a_failed_call_is_reported_not_scored(cli, providers, suite):
    fake_openai, _, _ = providers
    fake_openai.fail_model(INCUMBENT, "bad_request")
    report = cli.json("evaluate", CANDIDATE, "--against", INCUMBENT, "--suite", str(suite), "--segment", "research")
    incumbent = report["summary"]["incumbent"]
    assert (incumbent["answered"], incumbent["errors"], incumbent["mean_score"]) == (0, 5, None)
    assert all(c["incumbent"]["error"] and c["incumbent"]["score"] is None for c in report["cases"])
    assert report["stored_scores"] == 5
    assert report["summary"]["comparison"]["verdict"] == "candidate not worse"  # 0.3 against nothing


def test_judge_grade_is_averaged_in(cli, providers, suite):
    _, _, fake_ollama = providers
    fake_ollama.set_answer("Score: 8/10")
    report = cli.json("evaluate", CANDIDATE, "--against", INCUMBENT, "--suite", str(suite), "--segment", "research",
                      "--judge", JUDGE)
    json_case = _by_case(report)["json"]
    assert json_case["candidate"]["judge_grade"] == 8
    assert json_case["candidate"]["score"] == pytest.approx((1.0 + 0.8) / 2)
    assert json_case["incumbent"]["score"] == pytest.approx((0.0 + 0.8) / 2)
    graded = [r.json for r in fake_ollama.requests if r.path.endswith("/chat/completions")]
    assert len(graded) == 10  # both answers of every case
    assert JSON_ANSWER in graded[-2]["messages"][-1]["content"] and PARIS in graded[-1]["messages"][-1]["content"]


def test_an_unparseable_judge_answer_is_reported_not_guessed(cli, providers, suite):
    _, _, fake_ollama = providers
    fake_ollama.set_answer("Somewhere between 6 and 9, I would say.")
    report = cli.json("evaluate", CANDIDATE, "--against", INCUMBENT, "--suite", str(suite), "--segment", "research",
                      "--judge", JUDGE)
    outcome = _by_case(report)["json"]["candidate"]
    assert outcome["judge_grade"] is None and "gave no 0..10 grade" in outcome["judge_error"]
    assert outcome["score"] == 1.0  # the checks alone
    assert report["summary"]["candidate"]["judge_errors"] == 5


def test_the_bundled_smoke_suite_runs_by_name(cli, providers):
    report = cli.json("evaluate", CANDIDATE, "--against", INCUMBENT, "--suite", "smoke")
    assert report["suite"] == "smoke" and len(report["cases"]) == 8
    assert _by_case(report)["capital"]["incumbent"]["score"] == 1.0
    assert {c["segment"] for c in report["cases"]} >= {"technical", "research"}


def test_suite_errors_name_file_line_and_field(cli, providers, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent("""\
        - id: one
          prompt: hello
          checks:
            - contains: x
              regex: y
        - id: two
          prompt: hello
          checks:
            - json_schema: {type: object, minLength: 3}
        - id: three
          prompt: hello
          checks:
            - regex: "("
        """))
    result = cli("evaluate", CANDIDATE, "--against", INCUMBENT, "--suite", str(bad), code=2)
    assert f"{bad}:4: 0.checks.0: " in result.stderr and "exactly one of" in result.stderr
    assert f"{bad}:9: 1.checks.0.json_schema: " in result.stderr and "'minLength'" in result.stderr
    assert f"{bad}:13: 2.checks.0.regex: " in result.stderr
    bad.write_text("- id: a\n  prompt: x\n  checks: [{contains: x}]\n- id: a\n  prompt: y\n  checks: [{contains: y}]\n")
    assert "appears twice" in cli("evaluate", CANDIDATE, "--suite", str(bad), code=2).stderr
    bad.write_text("- id: a\n  prompt: [x\n")
    assert f"{bad}:" in cli("evaluate", CANDIDATE, "--suite", str(bad), code=2).stderr
    assert "no such file" in cli("evaluate", CANDIDATE, "--suite", str(tmp_path / "none.yaml"), code=2).stderr
    assert not [r for r in providers[0].requests if r.method == "POST"]  # nothing was called


def test_bad_models_and_missing_keys(cli, providers, suite, monkeypatch):
    cli("evaluate", "no-such-model", "--suite", str(suite), code=3)
    cli("evaluate", CANDIDATE, "--against", "no-such-model", "--suite", str(suite), code=3)
    assert "candidate itself" in cli("evaluate", CANDIDATE, "--against", CANDIDATE, "--suite", str(suite),
                                     code=2).stderr
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    result = cli("evaluate", CANDIDATE, "--against", INCUMBENT, "--suite", str(suite), code=2)
    assert "set ANTHROPIC_API_KEY" in result.stderr and KEY not in result.stderr
    assert cli.json("stats") == []  # no call was made


def test_a_judge_that_is_the_candidate_or_the_incumbent_is_refused(cli, providers, suite):
    for judge, role in ((CANDIDATE, "candidate"), (INCUMBENT, "incumbent")):
        result = cli("evaluate", CANDIDATE, "--against", INCUMBENT, "--suite", str(suite), "--judge", judge, code=2)
        assert f"is the {role}" in result.stderr and "another --judge" in result.stderr
    incumbent = cli.json("route", "hi")["model_id"]  # the default incumbent, from the chain
    result = cli("evaluate", CANDIDATE, "--suite", str(suite), "--segment", "simple", "--judge", incumbent, code=2)
    assert "is the incumbent of case contains" in result.stderr
    assert cli.json("stats") == []  # refused before any call


def test_the_verdict_needs_significance_not_a_point_estimate():
    from modelctl.services.offline_eval import paired_test

    assert paired_test([0.0] * 8)[0] == "candidate not worse"  # identical answers, no spread at all
    # a mean of -0.02, inside the 0.05 margin, but from a spread no 6 cases can pin down
    assert paired_test([0.5, -0.5, 0.4, -0.6, 0.3, -0.22])[0] == "inconclusive"
    assert paired_test([-0.5, -0.4, -0.6, -0.5, -0.45, -0.55])[0] == "candidate worse"
    assert paired_test([0.1])[0] == "inconclusive"


def test_promote_shows_and_can_require_a_passing_evaluation(cli, providers, suite):
    from modelctl.paths import config_dir, config_path

    shown = cli("promote", "gpt-6-luna", "--segments", "research")
    assert "offline evaluation: none" in shown.stderr
    cli("rollback", "gpt-6-luna")

    config_dir().mkdir(parents=True, exist_ok=True)
    strict = config_path("upgrade.yaml").read_text().replace("require_offline_eval: false",
                                                             "require_offline_eval: true")
    (config_dir() / "upgrade.yaml").write_text(strict)
    refused = cli("promote", CANDIDATE, "--segments", "research", code=2)
    assert "requires a passing offline evaluation" in refused.stderr and "it has none" in refused.stderr
    assert f"modelctl evaluate {CANDIDATE}" in refused.stderr

    cli.json("evaluate", CANDIDATE, "--against", INCUMBENT, "--suite", str(suite), "--segment", "research")
    refused = cli("promote", CANDIDATE, "--segments", "research", code=2)
    assert "says 'inconclusive'" in refused.stderr

    cli.json("evaluate", "gpt-6-luna", "--against", INCUMBENT, "--suite", str(suite), "--segment", "research")
    [started] = cli.json("promote", "gpt-6-luna", "--segments", "research")
    evaluation = started["offline_evaluation"]
    assert evaluation["verdict"] == "candidate not worse" and evaluation["passed"]
    assert evaluation["suite"] == "mini" and evaluation["incumbents"] == [INCUMBENT]
