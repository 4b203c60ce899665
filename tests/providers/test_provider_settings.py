"""Where a provider's URL and key come from, and that importing the adapters stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

from modelctl.errors import ConfigError, InvalidInput
from modelctl.providers.base import Attachment, ProviderSettings


def test_base_url_explicit_beats_env_beats_default(monkeypatch):
    settings = ProviderSettings(name="openai", kind="openai")
    assert settings.resolve_base_url() == "https://api.openai.com/v1"

    monkeypatch.setenv("OPENAI_BASE_URL", "https://gateway.example/v1/")
    assert settings.resolve_base_url() == "https://gateway.example/v1"

    explicit = ProviderSettings(name="openai", kind="openai", base_url="https://proxy.example/v1")
    assert explicit.resolve_base_url() == "https://proxy.example/v1"


def test_ollama_host_written_without_scheme(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "10.0.0.5:11434")

    assert ProviderSettings(name="local", kind="ollama").resolve_base_url() == "http://10.0.0.5:11434"


def test_openai_compatible_takes_its_url_from_a_name_derived_variable(monkeypatch):
    settings = ProviderSettings(name="lm-studio", kind="openai_compatible")
    with pytest.raises(ConfigError, match="LM_STUDIO_BASE_URL"):
        settings.resolve_base_url()

    monkeypatch.setenv("LM_STUDIO_BASE_URL", "http://127.0.0.1:1234/v1")
    assert settings.resolve_base_url() == "http://127.0.0.1:1234/v1"


def test_huggingface_lists_on_the_hub_not_the_router():
    settings = ProviderSettings(name="hf", kind="huggingface")

    assert settings.resolve_base_url() == "https://router.huggingface.co/v1"
    assert settings.resolve_list_url() == "https://huggingface.co"


def test_unknown_kind_is_a_config_error():
    with pytest.raises(ConfigError, match="grpc"):
        ProviderSettings(name="x", kind="grpc")


def test_key_is_read_at_call_time_and_never_shown(monkeypatch, api_key):
    settings = ProviderSettings(name="anthropic", kind="anthropic")
    assert settings.key_env == "ANTHROPIC_API_KEY"
    assert settings.api_key() is None

    monkeypatch.setenv("ANTHROPIC_API_KEY", api_key)

    assert settings.api_key() == api_key
    assert api_key not in repr(settings)


def test_custom_key_variable_wins():
    team = ProviderSettings(name="team", kind="openai", api_key_env="TEAM_OPENAI_KEY")
    assert team.key_env == "TEAM_OPENAI_KEY"
    assert ProviderSettings(name="local", kind="ollama").key_env is None


def test_attachment_needs_data_or_url_not_both():
    with pytest.raises(InvalidInput):
        Attachment(media_type="image/png")
    with pytest.raises(InvalidInput):
        Attachment(media_type="image/png", data=b"x", url="https://example.com/x.png")


def test_importing_the_adapters_loads_no_sdk_or_http_library():
    code = (
        "import sys, modelctl.providers.calls, modelctl.providers.base;"
        "print(sorted(m for m in ('openai', 'anthropic', 'httpx2', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "[]"


def test_a_kind_is_registered_once():
    from modelctl.providers.registry import ProviderKind, get_kind, register

    openai = get_kind("openai")
    with pytest.raises(ConfigError, match="registered twice"):
        register(ProviderKind(name="openai", chat=openai.chat, list_models=openai.list_models,
                              listing_format="openai", list_path="/models"))
    assert get_kind("openai") is openai


def test_a_named_key_variable_is_needed_even_by_a_kind_that_takes_none(monkeypatch):
    """An Ollama or local server behind an authenticating proxy: its entry names the key's variable."""
    proxied = ProviderSettings(name="local", kind="ollama", api_key_env="LOCAL_KEY")
    assert proxied.key_missing()

    monkeypatch.setenv("LOCAL_KEY", "k")
    assert not proxied.key_missing()
    assert not ProviderSettings(name="local", kind="ollama").key_missing()


def test_public_catalogues_list_without_a_key():
    assert ProviderSettings(name="hf", kind="huggingface").key_missing()
    assert not ProviderSettings(name="hf", kind="huggingface").key_missing(to_list=True)
    assert ProviderSettings(name="openai", kind="openai").key_missing(to_list=True)
