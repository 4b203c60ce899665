"""The OpenAI-compatible gateway, driven by the official `openai` SDK pointed at a real `modelctl serve`
(base_url), which calls the loopback provider fakes through the SDKs: what an OpenAI client sees,
and the usage rows each request leaves."""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.fakes.fixtures import point_at_fakes

pytestmark = pytest.mark.usefixtures("sdks_imported")

KEY = "sk-test-gateway-7d1e0c5b3a924f68"
CANDIDATE = "claude-sonnet-5-5"  # rolled out against the head of the simple chain
# A one-pixel PNG, as a client would inline it.
PNG = base64.b64encode(
    bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                  "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
                                            "parameters": {"type": "object",
                                                           "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


# The gateway's routing here: a chain of its own, on a day all its models are live, so these tests
# are about the gateway and stay put when the bundled defaults or the calendar move.
GATEWAY_POLICY = """\
segments:
  simple: {chain: [gpt-4o-2024-08-06, gpt-6-luna, claude-haiku-5-5], budget_seconds: 5}
  technical: {chain: [gpt-4o-2024-08-06, gpt-6-luna, claude-haiku-5-5], budget_seconds: 7}
  research: {chain: [gpt-4o-2024-08-06, gpt-6-luna, claude-haiku-5-5], budget_seconds: 10}
  multimedia: {chain: [gpt-4o-2024-08-06], budget_seconds: 10, fallback_to_capable: true}
"""


@pytest.fixture
def gateway(serve, monkeypatch, tmp_path, fake_openai, fake_anthropic):
    import openai

    config = tmp_path / "gateway-config"
    config.mkdir()
    (config / "policy.yaml").write_text(GATEWAY_POLICY)
    monkeypatch.setenv("MODELCTL_CONFIG_DIR", str(config))
    monkeypatch.setenv("MODELCTL_NOW", "2026-12-01T12:00:00Z")

    point_at_fakes(monkeypatch, KEY, openai=fake_openai, anthropic=fake_anthropic)
    api = serve()
    client = openai.OpenAI(base_url=api.url + "/v1", api_key="unused", max_retries=0, timeout=30)
    api.openai = client
    api.store = api.app.state.store
    yield api
    client.close()


def _usage(store, request_id, *, rows=1):
    """The request's usage rows, once `rows` of them are written: the served attempt's row is
    written after the client has the answer."""
    deadline = time.monotonic() + 5
    while len(found := _rows(store, request_id)) < rows and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def _rows(store, request_id):
    return store.read("SELECT model_id, arm, attempt, success, error_kind, tokens_in, tokens_out, ttft_ms, "
                      "latency_ms FROM usage WHERE request_id = :r ORDER BY attempt", {"r": request_id})


def test_a_plain_completion_comes_back_in_openais_format_with_the_decision_in_headers(gateway, fake_openai):
    raw = gateway.openai.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "system", "content": "be brief"},
                                {"role": "user", "content": "What is the capital of France?"}],
        max_tokens=50, temperature=0.2, stop=["\n\n"])
    completion = raw.parse()
    assert completion.choices[0].message.content == "Paris is the capital of France."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == raw.headers["x-modelctl-model"] == "gpt-4o-2024-08-06"
    assert (raw.headers["x-modelctl-segment"], raw.headers["x-modelctl-arm"], raw.headers["x-modelctl-attempts"]) == (
        "simple", "control", "1")
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (14, 7)
    sent = fake_openai.requests[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert (sent["temperature"], sent["stop"], sent["max_completion_tokens"]) == (0.2, ["\n\n"], 50)
    request_id = raw.headers["x-modelctl-request-id"]
    rows = _usage(gateway.store, request_id)
    assert [r[:5] for r in rows] == [("gpt-4o-2024-08-06", "control", 0, 1, None)]
    assert rows[0][5:7] == (14, 7) and rows[0][8] > 0


def test_an_anthropic_answer_reads_as_openai_and_a_model_id_pins_the_model(gateway, fake_anthropic):
    completion = gateway.openai.chat.completions.create(
        model="claude-haiku-5-5", messages=[{"role": "user", "content": "hi"}])
    assert completion.model == "claude-haiku-5-5"
    assert completion.choices[0].message.content == fake_anthropic.answer_text
    assert completion.choices[0].finish_reason == "stop"  # Anthropic's end_turn


@pytest.mark.parametrize(("model", "fake", "url_env", "root", "key_env"), [
    ("llama3.1:8b", "fake_ollama", "OLLAMA_HOST", "", None),
    ("meta-llama/Llama-3.1-8B-Instruct", "fake_huggingface", "HF_BASE_URL", "/v1", "HF_TOKEN"),
])
def test_ollama_and_hugging_face_answers_come_back_in_openais_format(
        gateway, monkeypatch, request, model, fake, url_env, root, key_env):
    server = request.getfixturevalue(fake)
    monkeypatch.setenv(url_env, server.base_url + root)
    if key_env:
        monkeypatch.setenv(key_env, KEY)
    server.set_answer("Paris.")
    raw = gateway.openai.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "What is the capital of France?"}])
    completion = raw.parse()
    assert (completion.model, completion.choices[0].message.content) == (model, "Paris.")
    assert raw.headers["x-modelctl-model"] == model
    assert server.requests[-1].json["model"] == model


def test_a_streamed_completion_arrives_in_chunks_with_usage_last(gateway, fake_openai):
    fake_openai.set_answer("one two three four")
    stream = gateway.openai.chat.completions.create(
        model="simple", messages=[{"role": "user", "content": "count"}], stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 4
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 21
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert {c.model for c in chunks} == {"gpt-4o-2024-08-06"}
    rows = _usage(gateway.store, chunks[0].id.removeprefix("chatcmpl-"))
    assert len(rows) == 1 and rows[0][3] == 1 and rows[0][7] is not None  # time to first token recorded


def test_a_tool_call_passes_through_both_protocols(gateway, fake_openai, fake_anthropic):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    fake_openai.set_tool_call(call)
    completion = gateway.openai.chat.completions.create(
        model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER],
        tool_choice="auto")
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.name == "get_weather"
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert fake_openai.requests[-1].json["tools"] == [WEATHER]

    fake_anthropic.set_tool_call(call)
    conversation = [{"role": "user", "content": "Weather in Paris?"},
                    {"role": "assistant", "content": None, "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                    {"role": "user", "content": "And tomorrow?"}]
    completion = gateway.openai.chat.completions.create(
        model="claude-haiku-5-5", messages=conversation, tools=[WEATHER], tool_choice="required")
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.choices[0].message.tool_calls[0].id == "call_1"
    sent = fake_anthropic.requests[-1].json
    assert sent["tools"][0]["name"] == "get_weather" and sent["tool_choice"] == {"type": "any"}
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"][0] == {"type": "tool_use", "id": "call_1", "name": "get_weather",
                                                 "input": {"city": "Paris"}}
    assert sent["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"}


def test_a_streamed_tool_call_arrives_whole(gateway, fake_openai):
    call = {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    fake_openai.set_tool_call(call)
    chunks = list(gateway.openai.chat.completions.create(
        model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "Weather?"}], tools=[WEATHER], stream=True))
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
    assert [(t.id, t.function.name, t.function.arguments) for t in calls] == [
        ("call_2", "get_weather", '{"city": "Oslo"}')]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_an_image_part_routes_as_multimedia_and_reaches_the_provider(gateway, fake_openai):
    completion = gateway.openai.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    assert completion.headers["x-modelctl-segment"] == "multimedia"
    assert completion.parse().model == "gpt-4o-2024-08-06"
    parts = fake_openai.requests[-1].json["messages"][-1]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}


@pytest.mark.parametrize("fault", ["server_error", "rate_limit"])
def test_a_failed_first_model_falls_back_and_both_attempts_are_recorded(gateway, fake_openai, fault):
    fake_openai.fail_model("gpt-4o-2024-08-06", fault)
    raw = gateway.openai.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert raw.parse().model == "gpt-6-luna"
    assert raw.headers["x-modelctl-attempts"] == "2"
    rows = _usage(gateway.store, raw.headers["x-modelctl-request-id"], rows=2)
    kind = {"server_error": "unavailable", "rate_limit": "rate_limited"}[fault]
    assert [r[:5] for r in rows] == [("gpt-4o-2024-08-06", "control", 0, 0, kind),
                                     ("gpt-6-luna", "control", 1, 1, None)]


def test_a_429_whose_retry_after_fits_the_budget_is_waited_out(gateway, fake_openai):
    fake_openai.fail_next("rate_limit", retry_after="1")
    started = time.monotonic()
    raw = gateway.openai.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert time.monotonic() - started >= 1.0
    assert (raw.parse().model, raw.headers["x-modelctl-attempts"]) == ("gpt-4o-2024-08-06", "2")
    rows = _usage(gateway.store, raw.headers["x-modelctl-request-id"], rows=2)
    assert [r[:5] for r in rows] == [("gpt-4o-2024-08-06", "control", 0, 0, "rate_limited"),
                                     ("gpt-4o-2024-08-06", "control", 1, 1, None)]


def test_the_deadline_header_sets_the_budget(gateway):
    """X-Modelctl-Deadline-Ms replaces the segment's 5 s: at 500 ms no model is expected to answer in
    time, and the 409 says so model by model."""
    import openai

    ask = {"model": "auto", "messages": [{"role": "user", "content": "What is the capital of France?"}]}
    with pytest.raises(openai.ConflictError) as caught:
        gateway.openai.chat.completions.create(**ask, extra_headers={"X-Modelctl-Deadline-Ms": "500"})
    error = caught.value.response.json()["error"]
    assert error["code"] == "no_eligible_model" and "exceeds the budget of 500 ms" in error["message"]
    with pytest.raises(openai.BadRequestError, match="x-modelctl-deadline-ms"):
        gateway.openai.chat.completions.create(**ask, extra_headers={"X-Modelctl-Deadline-Ms": "soon"})


def test_a_stream_that_fails_before_its_first_token_falls_back(gateway, fake_openai):
    fake_openai.fail_model("gpt-4o-2024-08-06", "server_error")
    raw = gateway.openai.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}], stream=True)
    assert raw.headers["x-modelctl-model"] == "gpt-6-luna"
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris is the capital of France."


def test_a_stream_that_breaks_after_its_first_token_ends_with_an_error_event(gateway, fake_openai):
    import openai

    fake_openai.fail_model("gpt-4o-2024-08-06", "cut_stream")
    stream = gateway.openai.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}], stream=True)
    received = []
    with pytest.raises(openai.APIError, match="failed after its answer began"):
        for chunk in stream:
            received.append(chunk)
    request_id = received[0].id.removeprefix("chatcmpl-")
    assert [r[:5] for r in _usage(gateway.store, request_id)] == [
        ("gpt-4o-2024-08-06", "control", 0, 0, "unavailable")]


def test_a_client_that_disconnects_mid_stream_cancels_the_upstream_call(gateway, fake_openai):
    fake_openai.set_answer(" ".join(f"word{n}" for n in range(40)))
    fake_openai.fail_model("gpt-4o-2024-08-06", "slow_stream", delay_s=0.1)
    stream = gateway.openai.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}], stream=True)
    first = [next(stream), next(stream)]
    stream.close()
    request_id = first[0].id.removeprefix("chatcmpl-")
    rows = _usage(gateway.store, request_id)
    deadline = time.monotonic() + 5
    assert [r[:5] for r in rows] == [("gpt-4o-2024-08-06", "control", 0, 0, "cancelled")]
    while not fake_openai.hangups and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_openai.hangups == 1  # the fake saw its stream cut, well before its 4 s were up
    cooldown = gateway.store.read("SELECT consecutive_failures FROM model WHERE model_id = 'gpt-4o-2024-08-06'")
    assert cooldown == [(0,)]  # a client leaving says nothing about the model


def test_a_rollout_s_shadow_call_is_made_after_the_answer(gateway, cli, fake_anthropic):
    """The candidate in shadow answers the same conversation, on the server's own time: the client
    has the incumbent's answer before the candidate's slow one, which is recorded as the shadow arm."""
    cli("promote", CANDIDATE, "--segments", "simple", "--traffic", "100")
    fake_anthropic.fail_model(CANDIDATE, "delay", delay_s=1.0)
    started = time.monotonic()
    raw = gateway.openai.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert time.monotonic() - started < 1.0
    assert (raw.parse().model, raw.headers["x-modelctl-arm"]) == ("gpt-4o-2024-08-06", "control")
    rows = _usage(gateway.store, raw.headers["x-modelctl-request-id"], rows=2)
    assert [r[:4] for r in rows] == [("gpt-4o-2024-08-06", "control", 0, 1), (CANDIDATE, "shadow", 1, 1)]
    assert fake_anthropic.requests[-1].json["messages"][-1]["content"] == [
        {"type": "text", "text": "What is the capital of France?"}]


def test_a_canary_request_is_answered_by_the_candidate_and_says_so(gateway, cli, fake_anthropic):
    """In canary, the request's share goes to the candidate (all of it at --traffic 100); when the
    candidate fails, the chain rescues the request as an arm of its own."""
    cli("promote", CANDIDATE, "--segments", "simple", "--traffic", "100", "--to", "canary", "--yes")
    ask = {"model": "auto", "messages": [{"role": "user", "content": "What is the capital of France?"}]}
    raw = gateway.openai.chat.completions.with_raw_response.create(**ask)
    assert (raw.parse().model, raw.headers["x-modelctl-arm"]) == (CANDIDATE, "canary")
    assert [r[:4] for r in _usage(gateway.store, raw.headers["x-modelctl-request-id"])] == [
        (CANDIDATE, "canary", 0, 1)]

    fake_anthropic.fail_model(CANDIDATE, "server_error")
    raw = gateway.openai.chat.completions.with_raw_response.create(**ask)
    assert (raw.parse().model, raw.headers["x-modelctl-arm"]) == ("gpt-4o-2024-08-06", "rescue")


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "auto", "messages": []}, "messages"),
    ({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "temperature": 7}, "temperature"),
    ({"model": "auto", "messages": [{"role": "robot", "content": "hi"}]}, "messages[0]"),
    ({"model": "", "messages": [{"role": "user", "content": "hi"}]}, "model"),
])
def test_a_bad_request_is_answered_in_openais_error_shape(gateway, body, param):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        gateway.openai.chat.completions.create(**body)
    error = caught.value.response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_an_unknown_model_is_a_404_in_openais_shape(gateway):
    import openai

    with pytest.raises(openai.NotFoundError) as caught:
        gateway.openai.chat.completions.create(model="gpt-nonexistent", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.response.json()["error"]["code"] == "model_not_found"


def test_models_lists_auto_the_segments_and_the_routable_models(gateway):
    ids = [m.id for m in gateway.openai.models.list()]
    assert ids[:5] == ["auto", "simple", "technical", "research", "multimedia"]
    assert "gpt-4o-2024-08-06" in ids and "claude-haiku-5-5" in ids
    assert "meta-llama/Llama-3.1-8B-Instruct" not in ids  # HF_TOKEN is unset: the gateway cannot call it


def test_a_client_key_s_gateway_calls_count_against_it(gateway, cli):
    """The key's monthly budget and `stats --by key` read its usage rows: gateway calls must carry it."""
    import openai

    secret = cli("keys", "create", "chat-app").stdout.strip()
    keyed = openai.OpenAI(base_url=gateway.url + "/v1", api_key=secret, max_retries=0, timeout=30)
    raw = keyed.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}])
    request_id = raw.headers["x-modelctl-request-id"]
    _usage(gateway.store, request_id)
    [(key,)] = gateway.store.read("SELECT client_key FROM usage WHERE request_id = :r", {"r": request_id})
    assert key == "chat-app"
    assert {row["key"]: row["calls"] for row in cli.json("stats", "--by", "key")}["chat-app"] == 1
    keyed.close()
