from __future__ import annotations

import pytest

from modelctl.providers.base import ProviderSettings
from tests.fakes.fixtures import *  # noqa: F403 - the fake_* fixtures, as tests/conftest.py imports them

KEY = "sk-test-4f9c2b7e1d8a6035-secret"

_PROVIDER_ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OLLAMA_HOST",
    "HF_TOKEN", "HF_BASE_URL", "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL",
)


@pytest.fixture
def api_key() -> str:
    """The key the provider fixtures export; tests look for it where it must not be."""
    return KEY


@pytest.fixture(autouse=True)
def _clean_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real keys and endpoints must not leak into (or out of) these tests."""
    for name in _PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def openai_settings(fake_openai, monkeypatch) -> ProviderSettings:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return ProviderSettings(name="openai", kind="openai", base_url=fake_openai.base_url + "/v1")


@pytest.fixture
def anthropic_settings(fake_anthropic, monkeypatch) -> ProviderSettings:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return ProviderSettings(name="anthropic", kind="anthropic", base_url=fake_anthropic.base_url)


@pytest.fixture(params=["openai", "anthropic"])
def protocol(request, fake_openai, fake_anthropic, openai_settings, anthropic_settings):
    """(fake, settings) for each of the two chat protocols."""
    if request.param == "openai":
        return fake_openai, openai_settings
    return fake_anthropic, anthropic_settings
