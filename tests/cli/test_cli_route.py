"""classify and route as users and gateways call them."""

from __future__ import annotations

import json

import pytest
import yaml

from modelctl.paths import bundled_config_dir

DECISION_KEYS = {"model_id", "provider", "fallback_models", "confidence", "estimated_cost", "estimated_latency",
                 "query_type", "complexity", "budget_seconds", "segment", "reason"}


def test_classify_json(cli):
    out = cli.json("classify", "Why does `git rebase -i HEAD~3` say 'cannot rebase: You have unstaged changes'?")
    assert out["query_type"] == "technical" and out["budget_seconds"] in (5, 7, 10)
    assert 0 <= out["confidence"] <= 1 and out["signals"]
    picture = cli.json("classify", "what is in this picture?", "--attach", "https://x.test/cat.png")
    assert picture["query_type"] == "multimedia"


def test_quick_start_route_works_with_no_keys_and_says_so(cli):
    result = cli("route", "What is the capital of France?", "--json")
    decision = json.loads(result.stdout)
    assert set(decision) >= DECISION_KEYS
    assert decision["query_type"] == "simple" and decision["segment"] == "simple"
    assert "--ignore-keys" in result.stderr
    verdicts = {c["model_id"]: c["verdict"] for c in decision["reason"]}
    assert verdicts[decision["model_id"]] == "chosen"
    assert decision["model_id"] == "gpt-6-luna"  # the bundled simple chain's cheap first choice


def test_providers_without_keys_are_skipped_with_that_reason(cli, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    decision = cli.json("route", "Compare the causes of the 1929 and 2008 crashes in depth")
    assert decision["provider"] in ("anthropic", "ollama")
    dropped = {c["model_id"]: c["reason"] for c in decision["reason"] if c["verdict"] == "dropped"}
    assert any("openai has no API key: set OPENAI_API_KEY" in reason for reason in dropped.values())
    planned = cli.json("route", "Compare the causes of the 1929 and 2008 crashes in depth", "--ignore-keys")
    assert planned["provider"] == "openai"


def test_attachments_require_a_multimodal_model(cli, tmp_path):
    image = tmp_path / "scan.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    decision = cli.json("route", "what does it say?", "--attach", str(image))
    assert decision["query_type"] == "multimedia"
    models = {m["model_id"]: m for m in cli.json("models", "list")}
    for model_id in [decision["model_id"], *decision["fallback_models"]]:
        assert "multimodal" in models[model_id]["capabilities"]


def test_constraints_drop_with_reasons(cli):
    decision = cli.json("route", "What is the capital of France?", "--max-cost", "0.0005", "--ignore-keys")
    dropped = [c["reason"] for c in decision["reason"] if c["verdict"] == "dropped"]
    assert any("max cost" in reason for reason in dropped)
    assert decision["estimated_cost"] <= 0.0005
    result = cli("route", "Explain TCP slow start", "--max-cost", "0", "--require", "multimodal", code=1)
    assert "no eligible" in result.stderr.lower() or "no model" in result.stderr.lower()


def test_explain_renders_the_trace(cli):
    # a text-only model in the chain (llama3.1:8b) is dropped when an image must be read
    out = cli("route", "What is the capital of France?", "--require", "multimodal", "--explain").stdout
    assert "candidates" in out and "dropped" in out and "chosen" in out


def test_input_errors_exit_2(cli, tmp_path):
    assert "empty" in cli("route", "   ", code=2).stderr
    too_long = cli("route", "x" * 100_001, code=2).stderr
    assert "100,000" in too_long or "100000" in too_long
    assert "lone surrogate" in cli("route", "bad \ud800 half", code=2).stderr
    assert "valid:" in cli("route", "hi", "--objective", "vibes", code=2).stderr
    assert "multimodal" in cli("route", "hi", "--require", "telepathy", code=2).stderr
    assert "no such file" in cli("route", "hi", "--attach", str(tmp_path / "nope.png"), code=2).stderr
    assert cli("route", "tab\tand\nnewline are fine").exit_code == 0
    assert cli("route", "text from Windows-1252 \x85 with a NEL").exit_code == 0


def test_the_configured_query_limit_holds_both_ways(cli, tmp_path, monkeypatch):
    """policy.yaml's max_query_chars is the limit, above the default as well as below it."""
    policy = yaml.safe_load((bundled_config_dir() / "policy.yaml").read_text())
    monkeypatch.setenv("MODELCTL_CONFIG_DIR", str(tmp_path))
    batch = tmp_path / "long.jsonl"
    batch.write_text(json.dumps({"id": 1, "query": "word " * 30_000}) + "\n")  # 150,000 characters
    policy["max_query_chars"] = 200_000
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    assert json.loads(cli("route", "--batch", str(batch)).stdout)["model_id"]
    assert cli("route", "word " * 30_000, "--json").exit_code == 0
    policy["max_query_chars"] = 50
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    assert "the limit is 50 characters" in cli("route", "x" * 51, code=2).stderr


def test_batch_keeps_order_and_echoes_ids(cli):
    lines = [{"id": i, "query": q} for i, q in enumerate(
        ["hello!", "SELECT * FROM users WHERE id = 1; why slow?", "", "Write a literature review of RLHF"])]
    result = cli("route", "--batch", "-", input="".join(json.dumps(x) + "\n" for x in lines), code=2)
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == [0, 1, 2, 3]
    assert "error" in out[2] and out[2]["exit_code"] == 2
    assert out[1]["query_type"] == "technical" and out[3]["query_type"] == "research"
    classified = cli("classify", "--batch", "-", input=json.dumps({"id": "x", "query": "hi"}) + "\n").stdout
    assert json.loads(classified)["id"] == "x"


def test_batch_segment_per_line(cli):
    line = json.dumps({"id": "a", "query": "hello", "segment": "research"})
    out = json.loads(cli("route", "--batch", "-", input=line + "\n").stdout)
    assert out["segment"] == "research"


def test_refinement_fits_a_bundled_refiner_and_names_the_fastest_when_none_fits(cli):
    decision = cli.json("route", "--refinement", "fix my grammar: me and him goes")
    assert decision["bypass_recommended"] is False and decision["estimated_latency"] <= 0.5
    refiners = [m["model_id"] for m in cli.json("models", "list", "--refiners")]
    measured = {m: 600 if m == "gpt-6-luna" else 900 for m in refiners}  # every refiner over 500 ms
    cli("usage", "import", "-", input="".join(
        json.dumps({"model_id": m, "latency_ms": ms}) + "\n" for m, ms in measured.items() for _ in range(30)))
    decision = cli.json("route", "--refinement", "fix my grammar: me and him goes")
    assert decision["bypass_recommended"] is True and decision["model_id"] == "gpt-6-luna"
    assert "bypass refinement" in decision["warnings"][-1]


def _scores(model_id, segment, score, n):
    return "".join(json.dumps({"model_id": model_id, "segment": segment, "score": score}) + "\n" for _ in range(n))


def test_learned_cost_objective_picks_the_cheapest_good_enough_model(cli):
    cli("eval", "import", "-", input=(
        _scores("gpt-4o-2024-08-06", "technical", 0.9, 200)
        + _scores("gpt-6-luna", "technical", 0.88, 200)          # cheap and nearly as good
        + _scores("llama3.1:8b", "technical", 1.0, 3)            # perfect, but only 3 samples
    ))
    decision = cli.json("route", "How do I undo the last git commit?", "--objective", "cost",
                        "--segment", "technical", "--ignore-keys")
    assert decision["model_id"] == "gpt-6-luna"
    best = cli.json("route", "How do I undo the last git commit?", "--objective", "quality",
                    "--segment", "technical", "--ignore-keys")
    assert best["model_id"] == "gpt-4o-2024-08-06"
    strict = cli.json("route", "How do I undo the last git commit?", "--objective", "cost",
                      "--min-quality-ratio", "0.995", "--segment", "technical", "--ignore-keys")
    assert strict["model_id"] == "gpt-4o-2024-08-06"
    # value: 0.02 quality is worth more than gpt-4o's extra ~$7.9 per 1,000 calls only at a high weight
    cheap = cli.json("route", "How do I undo the last git commit?", "--objective", "value", "--cost-weight", "0.01",
                     "--segment", "technical", "--ignore-keys")
    assert cheap["model_id"] == "gpt-6-luna"
    rich = cli.json("route", "How do I undo the last git commit?", "--objective", "value", "--cost-weight", "0",
                    "--segment", "technical", "--ignore-keys")
    assert rich["model_id"] == "gpt-4o-2024-08-06"
    assert "cost weight" in cli("route", "x", "--objective", "value", "--cost-weight", "-1", code=2).stderr
    table = {(r["segment"], r["model_id"]): r for r in cli.json("eval", "show")}
    assert table[("technical", "llama3.1:8b")]["n"] == 3


@pytest.mark.parametrize("command", ["route", "classify"])
def test_no_query_and_no_batch_is_bad_usage_named_once(cli, command):
    result = cli(command, code=2)

    assert result.stderr.splitlines()[-1] == "error: give a QUERY, or --batch FILE|-"
    assert "Usage:" not in result.stderr and "Traceback" not in result.stderr


def test_parallel_batch_gives_the_same_lines_in_the_same_order(cli, tmp_path):
    queries = ["hello", "why does `ls` say permission denied?", "", "compare A and B in depth across cost and risk"]
    batch = tmp_path / "b.jsonl"
    batch.write_text("".join(json.dumps({"id": i, "query": queries[i % 4]}) + "\n" for i in range(4500)))
    one = cli("route", "--batch", str(batch), "--workers", "1", "--ignore-keys", code=2).stdout
    two = cli("route", "--batch", str(batch), "--workers", "2", "--ignore-keys", code=2).stdout
    assert one == two
    lines = [json.loads(line) for line in two.splitlines()]
    assert [line["id"] for line in lines] == list(range(4500))
    assert lines[2]["exit_code"] == 2 and lines[3]["query_type"] in ("research", "technical")
    single = cli.json("route", "hello", "--request-id", "0", "--ignore-keys")
    assert {k: v for k, v in lines[0].items() if k != "id"} == single


def test_classify_reports_the_budget_route_keeps(cli):
    query = "Explain quantum computing in depth"  # simple by type, its depth raises the complexity
    classified = cli.json("classify", query)
    routed = cli.json("route", query)
    assert classified["complexity"] == routed["complexity"] == "moderate"
    assert classified["budget_seconds"] == routed["budget_seconds"] == 7
