"""pytest fixtures, one fresh fake server per test; the root conftest star-imports this module."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.fakes.anthropic_wire import AnthropicFake
from tests.fakes.openai_wire import HuggingFaceFake, OllamaFake, OpenAIFake, OpenRouterFake
from tests.fakes.server import FakeProvider

__all__ = ["fake_anthropic", "fake_huggingface", "fake_ollama", "fake_openai", "fake_openrouter"]


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
