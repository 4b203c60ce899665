"""`route` plans only what `run` can call, for every provider kind: with its key set, with its key
unset, and with a providers.yaml entry that names no `api_key_env` (the kind's conventional key
variable, OPENAI_API_KEY and the like, then decides).

Each test configures two providers, both pointed at the fakes: `probe`, of the kind under test, and
`anchor`, a keyed OpenAI-compatible endpoint whose key is always set (so route honours keys rather
than routing as if every key were set). Every segment's chain is probe-model, then anchor-model.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("sdks_imported")

KEY = "sk-test-registry-3c5e8a1f7b2d9046-secret"
QUERY = "What is the capital of France?"
PROBE_KEY_ENV = "PROBE_API_KEY"
ANCHOR_KEY_ENV = "ANCHOR_API_KEY"
CONVENTIONAL_KEY_ENV = {
    "openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "ollama": None, "huggingface": "HF_TOKEN",
    "openrouter": "OPENROUTER_API_KEY", "openai_compatible": None,
}
KINDS = list(CONVENTIONAL_KEY_ENV)
# kind -> (the fake serving it, the path below the fake's address that providers.yaml's base_url names)
FAKES = {
    "openai": ("fake_openai", "/v1"), "anthropic": ("fake_anthropic", ""), "ollama": ("fake_ollama", ""),
    "huggingface": ("fake_huggingface", "/v1"), "openrouter": ("fake_openrouter", "/api/v1"),
    "openai_compatible": ("fake_openai", "/v1"),
}


def _configure(request, tmp_path, monkeypatch, kind: str, *, api_key_env: str | None) -> None:
    fake, path = FAKES[kind]
    probe_url = request.getfixturevalue(fake).base_url + path
    anchor_url = request.getfixturevalue("fake_openai").base_url + "/v1"
    named_key = f", api_key_env: {api_key_env}" if api_key_env else ""
    config = tmp_path / "config"
    config.mkdir()
    (config / "providers.yaml").write_text(
        "providers:\n"
        f"  probe: {{kind: {kind}, base_url: '{probe_url}'{named_key}}}\n"
        f"  anchor: {{kind: openai_compatible, base_url: '{anchor_url}', api_key_env: {ANCHOR_KEY_ENV}}}\n"
    )
    (config / "models.yaml").write_text(
        "models:\n"
        "  - {model_id: probe-model, provider: probe}\n"
        "  - {model_id: anchor-model, provider: anchor}\n"
    )
    segments = "".join(f"  {name}: {{chain: [probe-model, anchor-model], budget_seconds: 20}}\n"
                       for name in ("simple", "technical", "research", "multimedia"))
    (config / "policy.yaml").write_text("segments:\n" + segments)
    monkeypatch.setenv("MODELCTL_CONFIG_DIR", str(config))
    monkeypatch.setenv(ANCHOR_KEY_ENV, KEY)


def _plan_and_attempts(cli) -> tuple[list[str], dict[str, str], list[str]]:
    """route's plan (chosen model, then fallbacks), its verdicts by model, and the models run tried."""
    decision = cli.json("route", QUERY)
    plan = [decision["model_id"], *decision["fallback_models"]]
    verdicts = {row["model_id"]: row["reason"] for row in decision["reason"] if row["verdict"] == "dropped"}
    ran = cli.json("run", QUERY)
    assert ran["answer"] and ran["attempts"][-1]["outcome"] == "ok"
    return plan, verdicts, [a["model_id"] for a in ran["attempts"]]


def _assert_planned_and_called(cli) -> None:
    plan, _, attempts = _plan_and_attempts(cli)
    assert plan == ["probe-model", "anchor-model"]
    assert attempts == ["probe-model"]


def _assert_dropped_and_not_called(cli, key_env: str) -> None:
    plan, dropped, attempts = _plan_and_attempts(cli)
    assert plan == ["anchor-model"]
    assert dropped["probe-model"] == f"provider probe has no API key: set {key_env}"
    assert attempts == ["anchor-model"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_named_key_that_is_set_is_planned_and_called(cli, kind, request, tmp_path, monkeypatch):
    _configure(request, tmp_path, monkeypatch, kind, api_key_env=PROBE_KEY_ENV)
    monkeypatch.setenv(PROBE_KEY_ENV, KEY)

    _assert_planned_and_called(cli)


@pytest.mark.parametrize("kind", KINDS)
def test_a_named_key_that_is_unset_is_neither_planned_nor_called(cli, kind, request, tmp_path, monkeypatch):
    _configure(request, tmp_path, monkeypatch, kind, api_key_env=PROBE_KEY_ENV)

    _assert_dropped_and_not_called(cli, PROBE_KEY_ENV)


@pytest.mark.parametrize("kind", KINDS)
def test_without_api_key_env_the_conventional_key_when_set_is_used(cli, kind, request, tmp_path, monkeypatch):
    _configure(request, tmp_path, monkeypatch, kind, api_key_env=None)
    if CONVENTIONAL_KEY_ENV[kind]:
        monkeypatch.setenv(CONVENTIONAL_KEY_ENV[kind], KEY)

    _assert_planned_and_called(cli)


@pytest.mark.parametrize("kind", KINDS)
def test_without_api_key_env_an_unset_conventional_key_drops_the_provider(cli, kind, request, tmp_path,
                                                                         monkeypatch):
    """Before the registry, route counted such a provider as keyed and run then failed to call it."""
    _configure(request, tmp_path, monkeypatch, kind, api_key_env=None)
    key_env = CONVENTIONAL_KEY_ENV[kind]

    if key_env is None:  # a kind that takes no key (ollama, a local OpenAI-compatible server)
        _assert_planned_and_called(cli)
    else:
        _assert_dropped_and_not_called(cli, key_env)


@pytest.mark.parametrize("kind", [kind for kind, env in CONVENTIONAL_KEY_ENV.items() if env])
def test_providers_list_and_health_name_the_conventional_key(cli, kind, request, tmp_path, monkeypatch):
    _configure(request, tmp_path, monkeypatch, kind, api_key_env=None)

    [listed] = [row for row in cli.json("providers", "list") if row["name"] == "probe"]
    assert (listed["api_key_env"], listed["key_set"]) == (CONVENTIONAL_KEY_ENV[kind], False)
    [health] = [row for row in cli.json("health") if row["name"] == "probe"]
    assert (health["key_env"], health["key_set"], health["status"]) == (CONVENTIONAL_KEY_ENV[kind], False, "no_key")


def test_the_no_key_note_names_the_conventional_variables(cli, request, tmp_path, monkeypatch):
    """With no key set at all, route plans as if they were and says which variables it looked at."""
    _configure(request, tmp_path, monkeypatch, "openai", api_key_env=None)
    monkeypatch.delenv(ANCHOR_KEY_ENV)

    result = cli("route", QUERY)
    assert f"no provider API key is set (OPENAI_API_KEY, {ANCHOR_KEY_ENV})" in result.stderr
