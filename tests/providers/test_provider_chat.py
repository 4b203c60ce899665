"""chat() through the real SDK clients against the fake servers: answers, usage, streaming, and
the request each protocol actually puts on the wire."""

from __future__ import annotations

import base64

import pytest

from modelctl.errors import InvalidRequest
from modelctl.providers.base import Attachment, ChatRequest, ProviderSettings
from modelctl.providers.calls import chat

PNG = b"\x89PNG\r\n\x1a\n-not-really-an-image"
PDF = b"%PDF-1.7 fake"


def test_answer_and_usage(protocol):
    fake, settings = protocol
    fake.set_answer("Ottawa is the capital of Canada.")
    fake.set_usage(31, 9)

    result = chat(settings, ChatRequest(model_id="m-1", prompt="Capital of Canada?"), timeout_s=5)

    assert result.text == "Ottawa is the capital of Canada."
    assert (result.tokens_in, result.tokens_out) == (31, 9)
    assert result.finish_reason in ("stop", "end_turn")
    assert result.ttft_ms is None
    assert result.latency_ms > 0


def test_streaming_calls_on_token_per_chunk_and_times_first_token(protocol):
    fake, settings = protocol
    fake.set_answer("One two three four.")
    fake.set_usage(12, 5)
    tokens: list[str] = []

    request = ChatRequest(model_id="m-1", prompt="Count", stream=True)
    result = chat(settings, request, timeout_s=5, on_token=tokens.append)

    assert tokens == ["One ", "two ", "three ", "four."]
    assert result.text == "One two three four."
    assert (result.tokens_in, result.tokens_out) == (12, 5)
    assert 0 < result.ttft_ms <= result.latency_ms
    assert fake.requests[-1].json["stream"] is True


def test_streams_leave_their_connection_for_the_next_call(protocol):
    """The chunk that ends a stream's body may come on its own after the last event (the openai SDK
    stops reading at [DONE]): the connection still goes back to the pool, so calls in a row share
    one, as a gateway's do, instead of opening (over TLS, negotiating) one per stream."""
    fake, settings = protocol
    fake.fail_model("m-1", "late_end", delay_s=0.05)
    for _ in range(3):
        chat(settings, ChatRequest(model_id="m-1", prompt="hi", stream=True), timeout_s=5)
    assert len({request.client_port for request in fake.requests}) == 1


def test_non_streamed_answer_reaches_on_token_once(protocol):
    fake, settings = protocol
    tokens: list[str] = []

    chat(settings, ChatRequest(model_id="m-1", prompt="hi"), timeout_s=5, on_token=tokens.append)

    assert tokens == [fake.answer_text]


def test_openai_request_carries_key_system_prompt_and_usage_option(fake_openai, openai_settings, api_key):
    request = ChatRequest(model_id="gpt-x", prompt="hi", system="Be brief.", stream=True)
    chat(openai_settings, request, timeout_s=5)

    sent = fake_openai.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {api_key}"
    assert sent.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert sent.json["stream_options"] == {"include_usage": True}


def test_anthropic_request_carries_key_system_and_a_max_tokens(fake_anthropic, anthropic_settings, api_key):
    chat(anthropic_settings, ChatRequest(model_id="claude-x", prompt="hi", system="Be brief."), timeout_s=5)

    sent = fake_anthropic.requests[-1]
    assert sent.path == "/v1/messages"
    # older SDKs send x-api-key, current ones a bearer token; the API takes both
    assert sent.headers.get("x-api-key", sent.headers.get("authorization")) in (api_key, f"Bearer {api_key}")
    assert "anthropic-version" in sent.headers
    assert sent.json["system"] == "Be brief."
    assert sent.json["messages"] == [{"role": "user", "content": "hi"}]
    assert sent.json["max_tokens"] > 0


def test_max_tokens_uses_each_servers_parameter_name(
    fake_openai, openai_settings, fake_openrouter, monkeypatch
):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    openrouter = ProviderSettings(name="or", kind="openrouter", base_url=fake_openrouter.base_url + "/api/v1")

    chat(openai_settings, ChatRequest(model_id="gpt-x", prompt="hi", max_tokens=50), timeout_s=5)
    chat(openrouter, ChatRequest(model_id="a/b", prompt="hi", max_tokens=50), timeout_s=5)

    assert fake_openai.requests[-1].json["max_completion_tokens"] == 50
    assert fake_openrouter.requests[-1].json["max_tokens"] == 50


def test_openai_attachments_are_image_url_and_file_parts(fake_openai, openai_settings):
    request = ChatRequest(
        model_id="gpt-x",
        prompt="What is in these?",
        attachments=(
            Attachment(media_type="image/png", data=PNG, name="chart.png"),
            Attachment(media_type="image/jpeg", url="https://example.com/cat.jpg"),
            Attachment(media_type="application/pdf", data=PDF, name="paper.pdf"),
        ),
    )
    chat(openai_settings, request, timeout_s=5)

    text, inline, linked, pdf = fake_openai.requests[-1].json["messages"][-1]["content"]
    assert text == {"type": "text", "text": "What is in these?"}
    assert inline["type"] == "image_url"
    prefix, encoded = inline["image_url"]["url"].split(",", 1)
    assert prefix == "data:image/png;base64" and base64.b64decode(encoded) == PNG
    assert linked == {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    assert pdf["type"] == "file" and pdf["file"]["filename"] == "paper.pdf"
    assert base64.b64decode(pdf["file"]["file_data"].split(",", 1)[1]) == PDF


def test_anthropic_attachments_are_image_and_document_blocks(fake_anthropic, anthropic_settings):
    request = ChatRequest(
        model_id="claude-x",
        prompt="What is in these?",
        attachments=(
            Attachment(media_type="image/png", data=PNG),
            Attachment(media_type="application/pdf", data=PDF),
            Attachment(media_type="image/jpeg", url="https://example.com/cat.jpg"),
        ),
    )
    chat(anthropic_settings, request, timeout_s=5)

    image, document, linked, text = fake_anthropic.requests[-1].json["messages"][0]["content"]
    assert image["type"] == "image" and image["source"]["type"] == "base64"
    assert image["source"]["media_type"] == "image/png" and base64.b64decode(image["source"]["data"]) == PNG
    assert document["type"] == "document" and base64.b64decode(document["source"]["data"]) == PDF
    assert linked == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
    assert text == {"type": "text", "text": "What is in these?"}


def test_unsupported_attachment_is_refused_before_any_request(protocol):
    fake, settings = protocol
    audio = Attachment(media_type="audio/wav", data=b"RIFF")
    request = ChatRequest(model_id="m-1", prompt="hi", attachments=(audio,))

    with pytest.raises(InvalidRequest, match="audio/wav"):
        chat(settings, request, timeout_s=5)
    assert fake.requests == []


def test_ollama_needs_no_key_and_never_receives_the_openai_key(fake_ollama, monkeypatch, api_key):
    monkeypatch.setenv("OPENAI_API_KEY", api_key)
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama.base_url.removeprefix("http://"))
    settings = ProviderSettings(name="local", kind="ollama")

    result = chat(settings, ChatRequest(model_id="llama3.2", prompt="hi"), timeout_s=5)

    assert result.text == fake_ollama.answer_text
    sent = fake_ollama.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert api_key not in str(sent.headers)


@pytest.mark.parametrize(
    "kind, env, prefix", [("huggingface", "HF_TOKEN", "/v1"), ("openrouter", "OPENROUTER_API_KEY", "/api/v1")]
)
def test_openai_compatible_hosts_get_their_own_key(kind, env, prefix, request, monkeypatch, api_key):
    fake = request.getfixturevalue(f"fake_{kind}")
    monkeypatch.setenv(env, api_key)
    settings = ProviderSettings(name=kind, kind=kind, base_url=fake.base_url + prefix)

    result = chat(settings, ChatRequest(model_id="org/model", prompt="hi", stream=True), timeout_s=5)

    assert result.text == fake.answer_text
    assert fake.requests[-1].path == f"{prefix}/chat/completions"
    assert fake.requests[-1].headers["authorization"] == f"Bearer {api_key}"


def test_calls_to_one_provider_reuse_one_connection(protocol):
    fake, settings = protocol

    for _ in range(3):
        chat(settings, ChatRequest(model_id="m-1", prompt="hi"), timeout_s=5)

    assert len({r.client_port for r in fake.requests}) == 1


def test_a_rotated_key_is_used_on_the_next_call(protocol, monkeypatch, api_key):
    fake, settings = protocol
    chat(settings, ChatRequest(model_id="m-1", prompt="hi"), timeout_s=5)

    monkeypatch.setenv(settings.key_env, "sk-rotated-key")
    chat(settings, ChatRequest(model_id="m-1", prompt="hi"), timeout_s=5)

    first, second = (r.headers.get("x-api-key") or r.headers["authorization"] for r in fake.requests)
    assert api_key in first and "sk-rotated-key" in second
