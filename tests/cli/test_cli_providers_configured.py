"""Models belong to configured providers: `models import` refuses another one, and routing never
picks a model whose provider providers.yaml does not configure, keys set or ignored."""

from __future__ import annotations

import json

import pytest
import yaml

from modelctl.paths import bundled_config_dir

HF_MODEL = "meta-llama/Llama-3.1-8B-Instruct"  # the bundled huggingface model


@pytest.fixture
def three_providers(tmp_path, monkeypatch):
    """A config directory whose providers.yaml lists only openai, anthropic and ollama."""
    bundled = yaml.safe_load((bundled_config_dir() / "providers.yaml").read_text())
    bundled["providers"] = {name: bundled["providers"][name] for name in ("openai", "anthropic", "ollama")}
    config = tmp_path / "config"
    config.mkdir()
    (config / "providers.yaml").write_text(yaml.safe_dump(bundled))
    monkeypatch.setenv("MODELCTL_CONFIG_DIR", str(config))
    return config


def _catalog(tmp_path, provider: str):
    path = tmp_path / "models.yaml"
    path.write_text(f"models:\n  - model_id: my-model\n    provider: {provider}\n"
                    "    capabilities: [text_generation]\n")
    return path


def test_an_unknown_provider_is_refused_naming_the_configured_ones(cli, tmp_path):
    result = cli("models", "import", str(_catalog(tmp_path, "nosuchprovider")), code=2)
    assert "models.yaml:3: provider: provider 'nosuchprovider' is not configured" in result.stderr
    assert "anthropic, huggingface, ollama, openai, openrouter" in result.stderr
    cli("models", "show", "my-model", code=3)


def test_import_follows_the_configured_providers(cli, tmp_path, three_providers):
    result = cli("models", "import", str(_catalog(tmp_path, "huggingface")), code=2)
    assert "configured: anthropic, ollama, openai" in result.stderr
    cli("models", "import", str(_catalog(tmp_path, "ollama")))
    assert cli.json("models", "show", "my-model")["model"]["provider"] == "ollama"


@pytest.mark.parametrize("keys", ["none set", "--ignore-keys", "all set"])
def test_routing_drops_models_of_providers_not_configured(cli, monkeypatch, three_providers, keys):
    # learned scores make the huggingface model the best for the segment
    scores = "".join(json.dumps({"model_id": model_id, "segment": "technical", "score": score}) + "\n"
                     for model_id, score in ((HF_MODEL, 1.0), ("gpt-6-luna", 0.7)) for _ in range(200))
    cli("eval", "import", "-", input=scores)
    flags = ["--ignore-keys"] if keys == "--ignore-keys" else []
    if keys == "all set":
        for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN"):
            monkeypatch.setenv(name, "sk-test")
    decision = cli.json("route", "How do I undo the last git commit?", "--segment", "technical",
                        "--objective", "quality", *flags)
    assert decision["model_id"] == "gpt-6-luna"
    assert HF_MODEL not in decision["fallback_models"]
    why = {c["model_id"]: c for c in decision["reason"]}[HF_MODEL]
    assert why["verdict"] == "dropped" and why["reason"] == "provider huggingface is not configured"
