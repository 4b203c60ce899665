"""Token, rate limit, body limit, error bodies, and the refusal to listen beyond loopback unguarded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from modelctl.api.guards import TokenBuckets

TOKEN = "t0ken-for-tests-0123456789"


def test_with_a_token_every_request_but_health_needs_it(serve):
    api = serve(token=TOKEN)
    assert api.client.get("/health").status_code == 200
    for method, path in [("GET", "/models"), ("POST", "/route"), ("GET", "/metrics"), ("GET", "/docs"),
                         ("GET", "/openapi.json"), ("POST", "/start")]:
        denied = api.client.request(method, path)
        assert denied.status_code == 401, path
        assert denied.headers["www-authenticate"] == "Bearer"
    wrong = api.client.get("/models", headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
    assert wrong.status_code == 401
    allowed = api.client.get("/models", headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200 and allowed.json()


def test_a_client_over_its_rate_gets_429_with_retry_after(serve):
    api = serve(rate_per_s=0.5, burst=3)
    codes = [api.client.get("/health").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    limited = api.client.get("/models")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "rate limit" in limited.json()["detail"]


def test_token_buckets_refill_at_the_rate():
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=2, clock=lambda: now[0])
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0  # another client has its own bucket
    now[0] = 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_a_body_over_the_limit_gets_413(serve):
    api = serve(max_body_bytes=4096)
    big = {"query": "x" * 5000}
    assert api.client.post("/route", json=big).status_code == 413

    def chunks():  # no Content-Length: counted as it streams in
        yield b'{"query": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    streamed = api.client.post("/route", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and "4,096 bytes" in streamed.json()["detail"]
    assert api.client.post("/route", json={"query": "small"}).status_code == 200


def test_an_unexpected_error_is_a_short_500_without_a_traceback(api, monkeypatch):
    import modelctl.services.routing as routing

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/modelctl/services/routing.py line 42")

    monkeypatch.setattr(routing.Router, "load", broken)
    response = api.client.post("/route", json={"query": "hi"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; the server log has the details"}
    assert "Traceback" not in response.text and "secret internals" not in response.text


def test_three_ports_each_serve_every_route(serve):
    api = serve(ports=(0, 0, 0))
    import httpx2

    assert len(set(api.urls)) == 3
    for url in api.urls:
        with httpx2.Client(base_url=url) as client:
            assert client.get("/health").status_code == 200
            assert client.post("/route", json={"query": "hello"}).status_code == 200
            assert client.get("/candidates").status_code == 200


def _serve(*args, env_extra=None, timeout=30):
    env = {k: v for k, v in os.environ.items() if k != "MODELCTL_API_TOKEN"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "modelctl", "serve", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "example.com"])
def test_serve_refuses_a_non_loopback_host_without_a_token(host):
    done = _serve("--host", host)
    assert done.returncode == 2
    assert "MODELCTL_API_TOKEN" in done.stderr and "Traceback" not in done.stderr


def test_serve_refuses_a_short_token():
    done = _serve("--host", "0.0.0.0", env_extra={"MODELCTL_API_TOKEN": "short"})
    assert done.returncode == 2 and "use at least 16" in done.stderr


def test_serve_refuses_port_and_three_ports_together():
    done = _serve("--port", "9000", "--router-port", "9001")
    assert done.returncode == 2 and "not both" in done.stderr


def test_serve_in_a_process_prints_its_url_and_stops_on_sigterm(modelctl_home):
    import httpx2

    process = subprocess.Popen([sys.executable, "-m", "modelctl", "serve", "--port", "0", "--json",
                                "--log-level", "warning"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        [url] = json.loads(line)["urls"]
        assert httpx2.get(f"{url}/health", timeout=10).json()["status"] == "healthy"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_port_in_use_is_one_clear_error(api):
    port = api.url.rsplit(":", 1)[1]
    done = _serve("--port", port)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
