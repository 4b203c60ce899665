"""models, providers, audit, init and db commands as a user runs them."""

from __future__ import annotations

import json

REQUIRED = {"gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022", "gpt-3.5-turbo-0125",
            "gpt-4o-mini-2024-07-18", "claude-3-5-haiku-20241022"}


def test_models_list_json_has_the_bundled_catalog(cli):
    models = cli.json("models", "list")
    assert {m["model_id"] for m in models} >= REQUIRED
    gpt4o = next(m for m in models if m["model_id"] == "gpt-4o-2024-08-06")
    assert gpt4o["input_cost_per_1k"] == 0.0025 and gpt4o["output_cost_per_1k"] == 0.01
    assert gpt4o["max_context_tokens"] == 128000
    assert {"ollama", "huggingface"} <= {m["provider"] for m in models}


def test_models_list_filters_like_the_registry_views(cli):
    assert {m["status"] for m in cli.json("models", "list", "--stable")} == {"stable"}
    assert all(m["is_refiner"] for m in cli.json("models", "list", "--refiners"))
    assert all("multimodal" in m["capabilities"] for m in cli.json("models", "list", "--capability", "multimodal"))
    assert {m["provider"] for m in cli.json("models", "list", "--provider", "anthropic")} == {"anthropic"}


def test_unknown_capability_lists_the_valid_ones(cli):
    result = cli("models", "list", "--capability", "telepathy", code=2)
    assert "multimodal" in result.stderr and "Traceback" not in result.stderr


def test_models_show_puts_priors_next_to_measurements(cli):
    cli("usage", "record", "gpt-4o-2024-08-06", "--latency-ms", "1000", "--ttft-ms", "200")
    report = cli.json("models", "show", "gpt-4o-2024-08-06")
    assert report["measured_calls"] == 1
    ttft = report["performance"]["avg_ttft_ms"]
    assert ttft["prior"] == 450.0 and abs(ttft["measured"] - 200) <= 2  # histogram: within 1%


def test_unknown_model_exits_3_and_suggests(cli):
    result = cli("models", "show", "gpt-4o-2024-0806", code=3)
    assert "did you mean gpt-4o-2024-08-06" in result.stderr


def test_set_status_is_audited_with_actor(cli, monkeypatch):
    monkeypatch.setenv("MODELCTL_ACTOR", "alice")
    cli("models", "set-status", "gpt-4o-2024-08-06", "disabled")
    assert cli.json("models", "show", "gpt-4o-2024-08-06")["model"]["status"] == "disabled"
    entry = cli.json("audit")[0]
    assert entry["actor"] == "alice" and entry["action"] == "set-status"
    assert entry["before"] == {"status": "stable"} and entry["after"] == {"status": "disabled"}
    cli("models", "set-status", "gpt-4o-2024-08-06", "sideways", code=2)


def test_import_yaml_upserts_and_reports(cli, tmp_path):
    f = tmp_path / "extra.yaml"
    f.write_text(
        "models:\n"
        "  - model_id: my-vllm-model\n    provider: openai\n    capabilities: [text_generation, streaming]\n"
        "    costs: {input_tokens_per_1k: 0.0001, output_tokens_per_1k: 0.0002}\n"
        "  - model_id: gpt-4o-2024-08-06\n    provider: openai\n"
        "    costs: {input_tokens_per_1k: 0.003, output_tokens_per_1k: 0.01}\n"
    )
    report = cli.json("models", "import", str(f))
    assert report["created"] == ["my-vllm-model"] and report["updated"] == ["gpt-4o-2024-08-06"]
    assert cli.json("models", "show", "gpt-4o-2024-08-06")["model"]["input_cost_per_1k"] == 0.003
    assert cli.json("audit")[0]["action"] == "import"


def test_bad_import_names_file_line_and_field_and_changes_nothing(cli, tmp_path):
    before = cli.json("models", "list")
    f = tmp_path / "bad.yaml"
    f.write_text("models:\n  - model_id: ok-model\n    provider: openai\n"
                 "  - model_id: broken\n    provider: openai\n    capabilities: {telepathy: true}\n")
    result = cli("models", "import", str(f), code=2)
    assert f"{f}:6: capabilities" in result.stderr and "valid: text_generation" in result.stderr
    assert cli.json("models", "list") == before
    report = cli.json("models", "import", str(f), "--skip-invalid")
    assert report["created"] == ["ok-model"] and len(report["skipped"]) == 1


def test_import_json_and_litellm_formats(cli, tmp_path):
    f = tmp_path / "m.json"
    f.write_text(json.dumps([{"model_id": "json-model", "provider": "openrouter"}]))
    assert cli.json("models", "import", str(f))["created"] == ["json-model"]
    price_map = tmp_path / "prices.json"
    price_map.write_text(json.dumps({
        "sample_spec": {"mode": "chat"},
        "acme-chat-1": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06,
                        "output_cost_per_token": 2e-06, "max_input_tokens": 32000, "max_output_tokens": 4096},
        "acme-embed": {"litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 1e-08},
    }))
    report = cli.json("models", "import", str(price_map), "--format", "litellm", "--skip-invalid")
    assert report["created"] == ["acme-chat-1"]
    model = cli.json("models", "show", "acme-chat-1")["model"]
    assert model["input_cost_per_1k"] == 0.001 and model["max_context_tokens"] == 32000


def test_invalid_yaml_is_exit_2_with_a_line(cli, tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("models:\n  - model_id: [unclosed\n")
    result = cli("models", "import", str(f), code=2)
    assert str(f) in result.stderr and "not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_yaml_tags_are_never_executed(cli, tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("models: !!python/object/apply:os.system ['echo pwned']\n")
    result = cli("models", "import", str(f), code=2)
    assert "pwned" not in result.stdout


def test_providers_list_shows_whether_a_key_is_set_never_the_key(cli, monkeypatch):
    secret = "sk-live-abcdef0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    rows = {r["name"]: r for r in cli.json("providers", "list")}
    assert rows["openai"]["key_set"] is True and rows["anthropic"]["key_set"] is False
    assert rows["ollama"]["api_key_env"] is None
    table = cli("providers", "list")
    assert secret not in table.stdout + table.stderr


def test_db_commands(cli, modelctl_home):
    assert cli("db", "path").stdout.strip() == str(modelctl_home / "modelctl.db")
    cli("init")
    check = cli.json("db", "check")
    assert check["ok"] and check["checks"]["schema"] == "ok"
    cli("db", "upgrade")


def test_force_reseed_restores_bundled_facts_but_keeps_status(cli, tmp_path):
    cli("models", "set-status", "gpt-4o-2024-08-06", "disabled")
    f = tmp_path / "p.yaml"
    f.write_text("models:\n  - model_id: gpt-4o-2024-08-06\n    provider: openai\n"
                 "    costs: {input_tokens_per_1k: 9, output_tokens_per_1k: 9}\n")
    cli("models", "import", str(f))
    cli("init", "--force-reseed")
    model = cli.json("models", "show", "gpt-4o-2024-08-06")["model"]
    assert model["input_cost_per_1k"] == 0.0025 and model["status"] == "disabled"


def test_version_and_short_help(cli):
    from modelctl import __version__

    assert cli("--version").stdout.strip() == f"modelctl {__version__}"
    assert "models" in cli("-h").stdout
