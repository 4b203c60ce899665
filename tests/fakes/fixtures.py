"""pytest fixtures, one fresh fake server per test; the root conftest star-imports this module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.anthropic_wire import AnthropicFake
from tests.fakes.openai_wire import HuggingFaceFake, OllamaFake, OpenAIFake, OpenRouterFake
from tests.fakes.server import FakeProvider

__all__ = [
    "every_fake_configured", "fake_anthropic", "fake_huggingface", "fake_ollama", "fake_openai", "fake_openrouter",
    "point_at_fakes", "sdks_imported",
]


def point_at_fakes(monkeypatch: pytest.MonkeyPatch, key: str, *, openai: OpenAIFake | None = None,
                   anthropic: AnthropicFake | None = None, ollama: OllamaFake | None = None) -> None:
    """The providers' environment variables aimed at these fakes, with `key` as each API key (a test
    that checks a key never leaks passes one of its own to look for)."""
    if openai is not None:
        monkeypatch.setenv("OPENAI_BASE_URL", openai.base_url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", key)
    if anthropic is not None:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    if ollama is not None:
        monkeypatch.setenv("OLLAMA_HOST", ollama.base_url)


@pytest.fixture(scope="session")
def sdks_imported() -> None:
    """The SDKs imported up front: a cold import takes seconds on a busy machine and would count
    against the first call's budget in a test that is about the calls, not import time."""
    import anthropic.resources.messages  # noqa: F401 - imported for its cost, once per session
    import openai.resources.chat.completions  # noqa: F401 - imported for its cost, once per session


def _serve(fake: FakeProvider) -> Iterator[FakeProvider]:
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def fake_openai() -> Iterator[OpenAIFake]:
    yield from _serve(OpenAIFake())


@pytest.fixture
def fake_anthropic() -> Iterator[AnthropicFake]:
    yield from _serve(AnthropicFake())


@pytest.fixture
def fake_ollama() -> Iterator[OllamaFake]:
    yield from _serve(OllamaFake())


@pytest.fixture
def fake_huggingface() -> Iterator[HuggingFaceFake]:
    yield from _serve(HuggingFaceFake())


@pytest.fixture
def fake_openrouter() -> Iterator[OpenRouterFake]:
    yield from _serve(OpenRouterFake())


@pytest.fixture
def every_fake_configured(fake_openai, fake_anthropic, fake_ollama, fake_huggingface, fake_openrouter, tmp_path,
                          monkeypatch) -> Path:
    """A config directory (MODELCTL_CONFIG_DIR) whose providers.yaml points all five providers at their fakes."""
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)  # original_chains may have put a policy.yaml there already
    (config / "providers.yaml").write_text(
        "providers:\n"
        f"  openai: {{kind: openai, api_key_env: OPENAI_API_KEY, base_url: '{fake_openai.base_url}/v1'}}\n"
        f"  anthropic: {{kind: anthropic, api_key_env: ANTHROPIC_API_KEY, base_url: '{fake_anthropic.base_url}'}}\n"
        f"  ollama: {{kind: ollama, base_url: '{fake_ollama.base_url}'}}\n"
        f"  huggingface: {{kind: huggingface, api_key_env: HF_TOKEN, base_url: '{fake_huggingface.base_url}/v1',\n"
        f"                list_url: '{fake_huggingface.base_url}'}}\n"
        f"  openrouter: {{kind: openrouter, api_key_env: OPENROUTER_API_KEY,\n"
        f"               base_url: '{fake_openrouter.base_url}/api/v1'}}\n"
    )
    monkeypatch.setenv("MODELCTL_CONFIG_DIR", str(config))
    return config
