"""Every fault the fakes can inject comes out of chat() / list_models() as the ProviderError the
fallback logic acts on, in time, in one line, and without the key."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from modelctl.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ContextLengthExceeded,
    InvalidRequest,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from modelctl.providers.base import ChatRequest, ProviderSettings
from modelctl.providers.calls import chat, list_models
from tests.fakes.openai_wire import OpenAIFake
from tests.fakes.server import unused_port_url

FAULT_ERRORS = [
    ("rate_limit", RateLimited),
    ("server_error", ProviderUnavailable),
    ("unauthorized", AuthenticationFailed),
    ("context_length", ContextLengthExceeded),
    ("bad_request", InvalidRequest),
    ("malformed", MalformedResponse),
    ("cut_stream", ProviderUnavailable),
]


def _chat_error(settings, *, stream: bool, timeout_s: float = 5, model: str = "m-1") -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        chat(settings, ChatRequest(model_id=model, prompt="hi", stream=stream), timeout_s=timeout_s)
    return caught.value


def _warm_up(settings) -> None:
    """Import the SDK and build the client first, so timings below measure only the call."""
    chat(settings, ChatRequest(model_id="m-1", prompt="hi"), timeout_s=30)


def _assert_reportable(error: ProviderError, settings: ProviderSettings, key: str) -> None:
    message = str(error)
    assert message.startswith(f"{settings.name} m-1: ")
    assert "\n" not in message
    assert key not in message and key not in repr(error)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("fault, error", FAULT_ERRORS, ids=[f for f, _ in FAULT_ERRORS])
def test_fault_maps_to_error(protocol, fault, error, stream, api_key):
    fake, settings = protocol
    fake.fail_next(fault)

    raised = _chat_error(settings, stream=stream)

    assert type(raised) is error
    _assert_reportable(raised, settings, api_key)


class _ShapelessChunks(OpenAIFake):
    """Streams JSON events that are not chat.completion.chunk objects."""

    def __init__(self, event: str) -> None:
        super().__init__()
        self.event = event

    def events(self, model: str, **_: object) -> list[str]:
        return [f"data: {self.event}\n\n", "data: [DONE]\n\n"]


@pytest.mark.parametrize("event", ['[1, 2]', '{"choices": "none"}', '{"choices": [{"delta": "x"}]}',
                                   '{"choices": [{"delta": {"tool_calls": [7]}}]}',
                                   '{"choices": [{"delta": {"content": 7}}]}', '{"choices": [], "usage": 3}'])
def test_stream_events_of_another_shape_are_malformed(event, monkeypatch, api_key):
    """The stream's chunks are read as plain JSON: one of another shape is the provider's fault,
    not an internal error."""
    monkeypatch.setenv("OPENAI_API_KEY", api_key)
    fake = _ShapelessChunks(event)
    try:
        settings = ProviderSettings(name="openai", kind="openai", base_url=fake.base_url + "/v1")
        raised = _chat_error(settings, stream=True)
    finally:
        fake.close()

    assert type(raised) is MalformedResponse
    assert "chat.completion.chunk" in str(raised)


def test_refused_auth_names_the_env_var_not_the_key(protocol, api_key):
    fake, settings = protocol
    fake.fail_next("unauthorized")  # the fake's message quotes the key it received

    raised = _chat_error(settings, stream=False)

    assert settings.key_env in str(raised)
    assert api_key not in str(raised)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_slow_answer_times_out_within_the_deadline(protocol, stream):
    fake, settings = protocol
    _warm_up(settings)
    fake.fail_next("delay", delay_s=3)

    started = time.perf_counter()
    raised = _chat_error(settings, stream=stream, timeout_s=0.3)

    assert isinstance(raised, ProviderTimeout)
    assert time.perf_counter() - started < 1.5


def test_stream_trickling_past_the_deadline_times_out(protocol):
    """Each event arrives well within the read timeout; only the total deadline catches it."""
    fake, settings = protocol
    _warm_up(settings)
    fake.fail_next("slow_stream", delay_s=0.15)  # ~10 events -> 1.5 s in all

    started = time.perf_counter()
    raised = _chat_error(settings, stream=True, timeout_s=0.5)

    assert isinstance(raised, ProviderTimeout)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("retry_after, expected", [("7", 7.0), ("0.5", 0.5), ("soon", None)])
def test_retry_after_seconds(protocol, retry_after, expected):
    fake, settings = protocol
    fake.fail_next("rate_limit", retry_after=retry_after)

    raised = _chat_error(settings, stream=False)

    assert raised.retry_after == expected


def test_retry_after_http_date(protocol):
    fake, settings = protocol
    in_30_s = datetime.now(UTC) + timedelta(seconds=30)
    fake.fail_next("rate_limit", retry_after=format_datetime(in_30_s, usegmt=True))

    raised = _chat_error(settings, stream=False)

    assert 25 <= raised.retry_after <= 31


def test_fault_pinned_to_a_model_spares_the_others(protocol):
    fake, settings = protocol
    fake.fail_model("broken-model", "server_error")

    assert isinstance(_chat_error(settings, stream=False, model="broken-model"), ProviderUnavailable)
    healthy = chat(settings, ChatRequest(model_id="healthy-model", prompt="hi"), timeout_s=5)
    assert healthy.text == fake.answer_text
    assert isinstance(_chat_error(settings, stream=True, model="broken-model"), ProviderUnavailable)


@pytest.mark.parametrize("kind", ["openai", "anthropic", "ollama"])
def test_nothing_listening_is_unavailable(kind, monkeypatch, api_key):
    monkeypatch.setenv("OPENAI_API_KEY", api_key)
    monkeypatch.setenv("ANTHROPIC_API_KEY", api_key)
    url = unused_port_url()
    settings = ProviderSettings(name="down", kind=kind, base_url=url + "/v1" if kind == "openai" else url)

    with pytest.raises(ConnectionFailed) as caught:  # the whole provider is down, not one call
        chat(settings, ChatRequest(model_id="m-1", prompt="hi"), timeout_s=2)
    with pytest.raises(ConnectionFailed):
        list_models(settings, timeout_s=2)

    assert caught.value.kind == "connection"
    _assert_reportable(caught.value, settings, api_key)


@pytest.mark.parametrize("kind", ["openai", "anthropic", "huggingface", "openrouter"])
def test_missing_key_fails_before_any_request(kind, request):
    fake = request.getfixturevalue(f"fake_{kind}")
    settings = ProviderSettings(name=kind, kind=kind, base_url=fake.base_url + "/v1")

    with pytest.raises(AuthenticationFailed) as caught:
        chat(settings, ChatRequest(model_id="m-1", prompt="hi"), timeout_s=2)

    assert settings.key_env in str(caught.value)
    assert fake.requests == []


@pytest.mark.parametrize(
    "kind, fault, error",
    [
        ("openai", "server_error", ProviderUnavailable),
        ("anthropic", "unauthorized", AuthenticationFailed),
        ("ollama", "malformed", MalformedResponse),
        ("huggingface", "rate_limit", RateLimited),
        ("openrouter", "cut_stream", ProviderUnavailable),
        ("openrouter", "delay", ProviderTimeout),
    ],
)
def test_list_faults_map_too(kind, fault, error, request, monkeypatch, api_key):
    fake = request.getfixturevalue(f"fake_{kind}")
    monkeypatch.setenv("OPENAI_API_KEY", api_key)
    monkeypatch.setenv("ANTHROPIC_API_KEY", api_key)
    base_url = fake.base_url + {"openai": "/v1", "openrouter": "/api/v1"}.get(kind, "")
    list_url = fake.base_url if kind == "huggingface" else None
    settings = ProviderSettings(name=kind, kind=kind, base_url=base_url, list_url=list_url)
    fake.fail_next(fault, delay_s=2, retry_after="4")

    with pytest.raises(error) as caught:
        list_models(settings, timeout_s=0.5)

    assert str(caught.value).startswith(f"{kind} (list models): ")
    assert api_key not in str(caught.value)
