"""Client keys: shown once and kept as hashes, named on usage rows and in the audit log, held to
their monthly budget in every process that shares the database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

GPT4O = "gpt-4o-2024-08-06"
CANDIDATE = "claude-sonnet-5-5"
TOKEN = "t0ken-for-tests-0123456789"


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_a_key_is_printed_once_and_only_its_hash_is_kept(cli, modelctl_home):
    secret = cli("keys", "create", "search-team", "--budget-usd", "5", "--rate-limit", "2").stdout.strip()
    assert secret.startswith("mk_") and len(secret) > 40
    [listed] = cli.json("keys", "list")
    assert listed["name"] == "search-team" and listed["budget_usd"] == 5 and listed["rate_limit"] == 2
    assert secret not in json.dumps(listed) and secret not in cli("keys", "list").stdout
    database = (modelctl_home / "modelctl.db").read_bytes()
    assert secret.encode() not in database
    assert "exists" in cli("keys", "create", "search-team", code=2).stderr
    cli("keys", "revoke", "search-team")
    assert cli.json("keys", "list")[0]["revoked_at"] is not None
    cli("keys", "revoke", "search-team", code=3)


def test_with_a_token_a_key_also_gets_in_and_a_revoked_one_does_not(serve, cli):
    api = serve(token=TOKEN)
    secret = cli("keys", "create", "app").stdout.strip()
    assert api.client.get("/models", headers=_bearer(secret)).status_code == 200
    assert api.client.get("/models", headers=_bearer(TOKEN)).status_code == 200
    assert api.client.get("/models", headers=_bearer(secret[:-2] + "xx")).status_code == 401
    cli("keys", "revoke", "app")
    assert api.client.get("/models", headers=_bearer(secret)).status_code == 401


def test_usage_rows_name_the_key_and_stats_by_key_shows_them(api, cli):
    secret = cli("keys", "create", "search-team").stdout.strip()
    for cost in (0.01, 0.02):
        recorded = api.client.post(f"/models/{GPT4O}/usage", headers=_bearer(secret),
                                   json={"latency_ms": 100, "cost_usd": cost, "segment": "simple"})
        assert recorded.status_code == 200 and recorded.json()["client_key"] == "search-team"
    api.client.post(f"/models/{GPT4O}/usage", json={"latency_ms": 100, "cost_usd": 0.5})
    rows = {row["key"]: row for row in cli.json("stats", "--by", "key")}
    assert rows["search-team"]["calls"] == 2 and rows["search-team"]["cost_usd"] == pytest.approx(0.03)
    assert rows["-"]["calls"] == 1


def test_a_key_past_its_monthly_budget_gets_429_saying_so(api, cli):
    secret = cli("keys", "create", "capped", "--budget-usd", "0.05").stdout.strip()
    spend = {"latency_ms": 100, "cost_usd": 0.03, "segment": "simple"}
    assert api.client.post(f"/models/{GPT4O}/usage", headers=_bearer(secret), json=spend).status_code == 200
    assert api.client.post(f"/models/{GPT4O}/usage", headers=_bearer(secret), json=spend).status_code == 200
    refused = api.client.post("/route", headers=_bearer(secret), json={"query": "hi"})
    assert refused.status_code == 429
    assert "monthly budget" in refused.json()["detail"] and "capped" in refused.json()["detail"]
    assert api.client.post("/route", json={"query": "hi"}).status_code == 200  # others are not held


def test_a_key_over_its_own_rate_gets_429(api, cli):
    secret = cli("keys", "create", "slow", "--rate-limit", "1").stdout.strip()
    codes = [api.client.get("/models/stable", headers=_bearer(secret)).status_code for _ in range(3)]
    assert codes[0] == 200 and 429 in codes


@pytest.mark.usefixtures("original_chains")  # claude-sonnet-5-5 challenges technical's head there
def test_the_audit_log_names_the_key_or_token_behind_a_promote_or_rollback(serve, cli):
    api = serve(token=TOKEN)
    secret = cli("keys", "create", "release-bot").stdout.strip()
    assert api.client.post(f"/promote/{CANDIDATE}", headers=_bearer(secret),
                           json={"segments": ["technical"]}).status_code == 200
    assert api.client.post(f"/rollback/{CANDIDATE}", headers=_bearer(TOKEN)).status_code == 200
    actors = {row["action"]: row["actor"] for row in cli.json("audit")}
    assert actors["rollout-start"] == "key:release-bot"
    assert actors["rollout-rollback"] == "token:admin"


def _start_serve(db_url: str, *args: str) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if k != "MODELCTL_API_TOKEN"}
    process = subprocess.Popen([sys.executable, "-m", "modelctl", "--db", db_url, "serve", "--port", "0", "--json",
                                "--log-level", "warning", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    assert line, process.stderr.read()
    return process, json.loads(line)["urls"][0]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_two_serve_processes_hold_one_keys_budget_exactly(db_url, cli):
    """Each request reads the key's spending from the shared database, so neither process lets
    a spent key through, and every cost either recorded is counted."""
    import httpx2

    secret = cli("--db", db_url, "keys", "create", "shared", "--budget-usd", "1").stdout.strip()
    servers = [_start_serve(db_url), _start_serve(db_url)]
    try:
        clients = [httpx2.Client(base_url=url, timeout=30, headers=_bearer(secret)) for _, url in servers]
        codes = []
        for i in range(30):  # 0.15 $ a call, alternating: the 7th call crosses the budget
            response = clients[i % 2].post(f"/models/{GPT4O}/usage",
                                           json={"latency_ms": 50, "cost_usd": 0.15, "segment": "simple"})
            codes.append(response.status_code)
            if response.status_code == 429:
                assert "monthly budget" in response.json()["detail"]
        assert codes == [200] * 7 + [429] * 23
        for client in clients:
            client.close()
    finally:
        for process, _ in servers:
            _stop(process)
    [row] = cli.json("--db", db_url, "stats", "--by", "key")
    assert row["key"] == "shared" and row["calls"] == 7 and row["cost_usd"] == pytest.approx(1.05)


def _listeners(port: int) -> int:
    """Listening sockets on `port` (IPv4, this host), from /proc/net/tcp."""
    with open("/proc/net/tcp") as table:
        return sum(1 for line in table.readlines()[1:]
                   if int(line.split()[1].split(":")[1], 16) == port and line.split()[3] == "0A")


def test_serve_workers_runs_that_many_processes_on_one_port(modelctl_home, cli):
    import httpx2

    db_url = f"sqlite:///{modelctl_home / 'modelctl.db'}"
    secret = cli("keys", "create", "many").stdout.strip()
    process, url = _start_serve(db_url, "--workers", "3")
    try:
        port = int(url.rsplit(":", 1)[1])
        assert _listeners(port) == 3
        for _ in range(20):  # a connection each: the kernel spreads them over the processes
            recorded = httpx2.post(f"{url}/models/{GPT4O}/usage", headers=_bearer(secret), timeout=30,
                                   json={"latency_ms": 5, "cost_usd": 0.01, "segment": "simple"})
            assert recorded.status_code == 200
        started = httpx2.post(f"{url}/start", timeout=30)
        assert started.status_code == 409 and "--schedule" in started.json()["detail"]
    finally:
        _stop(process)
    assert process.returncode == 0 and _listeners(port) == 0
    [row] = cli.json("stats", "--by", "key")
    assert row["calls"] == 20
