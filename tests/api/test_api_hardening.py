"""What probing the running server found: slow keep-alive answers, 500s on odd JSON, a rate limit a
forged header escapes, unbounded segments, and logs on stdout."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time

import pytest

GPT4O = "gpt-4o-2024-08-06"


def test_keep_alive_requests_are_answered_without_nagle_delay(api):
    """Before TCP_NODELAY reached accepted sockets, each answer waited ~40 ms for a delayed ACK."""
    api.client.get("/health")  # the connection is open from here on
    times = []
    for _ in range(50):
        started = time.perf_counter()
        assert api.client.post("/route", json={"query": "what is 2+2"}).status_code == 200
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.010, f"median {statistics.median(times) * 1000:.1f} ms"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/route", b'{"query": "hi", "max_cost": NaN}', "max_cost"),
    ("/route", b'{"query": "hi", "max_cost": Infinity}', "max_cost"),
    ("/route", b'{"query": "hi", "max_cost": 1e309}', "max_cost"),
    ("/route", b'{"query": "\\ud800"}', "query"),
    ("/route", b'{"query": 1e309}', "query"),
    ("/route/refinement", b'{"query": "hi", "refinement_type": "\\udfff"}', "refinement_type"),
    (f"/models/{GPT4O}/usage", b'{"latency_ms": -Infinity}', "latency_ms"),
    (f"/models/{GPT4O}/usage", b'{"latency_ms": 5, "segment": "\\ud800"}', "segment"),
])
def test_non_finite_numbers_and_lone_surrogates_are_a_422_naming_the_field(api, path, body, field):
    response = api.client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert [field] == [error["loc"][-1] for error in response.json()["detail"]]


def test_a_forged_forwarded_for_does_not_buy_a_fresh_rate_limit_bucket(serve):
    api = serve(rate_per_s=0.5, burst=2)
    codes = [api.client.get("/health", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
             for n in range(4)]
    assert codes == [200, 200, 429, 429]


def test_forwarded_for_is_trusted_from_the_proxies_named(serve):
    api = serve(rate_per_s=0.5, burst=2, forwarded_allow_ips="127.0.0.1")
    codes = [api.client.get("/health", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
             for n in range(4)]
    assert codes == [200, 200, 200, 200]  # each forwarded client has its own bucket


def test_usage_under_an_unknown_segment_is_a_422_naming_the_known_ones(api):
    response = api.client.post(f"/models/{GPT4O}/usage", json={"latency_ms": 5, "segment": "made-up-7"})
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert "made-up-7" in message
    for known in ("simple", "technical", "refinement:fast", "refiners:probe", "evaluate:smoke"):
        assert known in message
    query = api.client.post(f"/models/{GPT4O}/usage", params={"query_type": "free text", "response_time": 1})
    assert query.status_code == 422
    for segment in ("research", "refinement:quality", "refiners:probe", "evaluate:smoke"):
        assert api.client.post(f"/models/{GPT4O}/usage",
                               json={"latency_ms": 5, "segment": segment}).status_code == 200, segment


def _median_write_ms(client, n: int = 30) -> float:
    times = []
    for i in range(n):
        started = time.perf_counter()
        assert client.post(f"/models/{GPT4O}/usage", json={"latency_ms": 5 + i, "segment": "simple"}).status_code == 200
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def test_a_usage_write_costs_the_same_however_many_rollup_keys_its_hour_has(api):
    from modelctl import clock
    from modelctl.store.db import sql_ts
    from modelctl.store.usage import insert_usage

    before = _median_write_ms(api.client)
    now = sql_ts(clock.now())
    rows = [(now, GPT4O, "openai", f"seg-{i}", "control", 5.0, None, 1, 1, 0.0, True, None, None, None, 0, None)
            for i in range(20_000)]
    with api.app.state.store.write() as conn:
        insert_usage(conn, rows)
    after = _median_write_ms(api.client)
    assert after < max(3 * before, before + 5), f"{before:.1f} ms a write, then {after:.1f} ms with 20,000 keys"


def test_serve_json_keeps_stdout_for_data_and_logs_on_stderr(modelctl_home):
    import httpx2

    env = {k: v for k, v in os.environ.items() if k != "MODELCTL_API_TOKEN"}
    process = subprocess.Popen([sys.executable, "-m", "modelctl", "serve", "--port", "0", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        [url] = json.loads(process.stdout.readline())["urls"]
        for _ in range(3):
            assert httpx2.get(f"{url}/health", timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert out == ""  # nothing after the first line
    assert "GET /health" in err
