"""Provider keys never leave the environment: not on stdout or stderr, not in the database file or its
WAL, not in the audit log, not in any file modelctl keeps; and the database files are private.

The fakes answer a refused key with a message that echoes it, as real providers partly do, so an
error message passed through verbatim would show up here.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from modelctl.paths import bundled_config_dir

pytestmark = pytest.mark.usefixtures("sdks_imported")

KEYS = {
    "OPENAI_API_KEY": "sk-proj-openai-9f1c2e7a5b3d4e6f8a0b",
    "ANTHROPIC_API_KEY": "sk-ant-api03-anthropic-2b4d6f8h0j",
    "HF_TOKEN": "hf_token_huggingface_7c9e1g3i5k",
    "OPENROUTER_API_KEY": "sk-or-v1-openrouter-4d6f8h0j2l",
}
QUERY = "What is the capital of France?"
OPENROUTER_MODEL = "mistralai/mistral-large-2411"
CHAIN = ["gpt-4o-2024-08-06", "claude-haiku-5-5", "meta-llama/Llama-3.1-8B-Instruct", OPENROUTER_MODEL]


@pytest.fixture
def everything(fake_openai, fake_anthropic, fake_ollama, fake_huggingface, fake_openrouter, every_fake_configured,
               tmp_path, monkeypatch, cli):
    """Every provider keyed and pointing at its fake; the simple chain crosses the four keyed ones."""
    old_umask = os.umask(0o022)  # the usual umask: private files must be private by modelctl's doing
    config = every_fake_configured
    policy = yaml.safe_load((bundled_config_dir() / "policy.yaml").read_text())
    policy["segments"]["simple"]["chain"] = CHAIN
    (config / "policy.yaml").write_text(yaml.safe_dump(policy))
    monkeypatch.setenv("MODELCTL_NOW", "2026-12-01T10:00:00Z")
    for name, key in KEYS.items():
        monkeypatch.setenv(name, key)
    extra = tmp_path / "openrouter-model.yaml"
    extra.write_text(yaml.safe_dump({"models": [{
        "model_id": OPENROUTER_MODEL, "provider": "openrouter", "family": "mistral", "version": "2411",
        "status": "stable", "capabilities": {"text_generation": True, "streaming": True},
        "performance": {"avg_ttft_ms": 400, "avg_completion_ms": 1500, "success_rate": 0.98, "quality_score": 0.7},
        "costs": {"input_tokens_per_1k": 0.002, "output_tokens_per_1k": 0.006, "currency": "USD"},
        "limits": {"max_context_tokens": 128000, "max_output_tokens": 8192},
    }]}))
    cli("models", "import", str(extra))
    fakes = {"OPENAI_API_KEY": fake_openai, "ANTHROPIC_API_KEY": fake_anthropic, "HF_TOKEN": fake_huggingface,
             "OPENROUTER_API_KEY": fake_openrouter}
    yield fakes
    os.umask(old_umask)


def _sent(fake, key: str) -> bool:
    return any(key in (r.headers.get("authorization", "") + r.headers.get("x-api-key", "")) for r in fake.requests)


def test_no_key_appears_in_output_database_wal_audit_or_files(cli, everything, modelctl_home):
    fakes = everything
    assert cli.json("route", QUERY)["fallback_models"][:3] == CHAIN[1:]
    outputs = [cli("run", QUERY, "--json")]  # succeeds on OpenAI
    # each key refused in turn (the fake's message echoes it), the next provider answering
    for refused, answering in itertools.pairwise(CHAIN):
        fakes[_key_of(refused)].fail_next("unauthorized", times=3)
        result = cli("run", QUERY, "--json")
        outputs.append(result)
        answer = json.loads(result.stdout)
        assert answer["model_id"] == answering
        assert (refused, "auth") in [(a["model_id"], a["error_kind"]) for a in answer["attempts"]]
    fakes["OPENROUTER_API_KEY"].fail_next("unauthorized", times=3)
    outputs.append(cli("run", QUERY, code=4))  # every model failed: the attempts are listed on stderr
    for fake in fakes.values():
        fake.fail_next("unauthorized")
    outputs.append(cli("discover", "--json"))
    outputs.append(cli("discover"))
    outputs.append(cli("health", "--probe", "--json"))
    outputs.append(cli("health"))
    outputs.append(cli("audit", "--json"))
    outputs.append(cli("stats", "--json"))
    outputs.append(cli("db", "export", "--json"))
    for name, fake in fakes.items():
        assert _sent(fake, KEYS[name]), f"{name} never reached its fake: the test would prove nothing"

    for key in KEYS.values():
        for result in outputs:
            assert key not in result.stdout and key not in result.stderr
    _assert_private_and_keyless(modelctl_home)


def _key_of(model_id: str) -> str:
    return {"gpt-4o-2024-08-06": "OPENAI_API_KEY", "claude-haiku-5-5": "ANTHROPIC_API_KEY",
            "meta-llama/Llama-3.1-8B-Instruct": "HF_TOKEN", OPENROUTER_MODEL: "OPENROUTER_API_KEY"}[model_id]


def _assert_private_and_keyless(home):
    db = home / "modelctl.db"
    reader = sqlite3.connect(db)  # an open connection keeps the WAL in place after writers close
    try:
        reader.execute("SELECT COUNT(*) FROM usage").fetchone()
        subprocess.run([sys.executable, "-m", "modelctl", "usage", "record", "gpt-4o-2024-08-06",
                        "--latency-ms", "5"], check=True, capture_output=True, timeout=120)
        wal = db.with_name(db.name + "-wal")
        assert wal.exists() and wal.stat().st_size > 0
        for path in (db, wal, db.with_name(db.name + "-shm")):
            assert path.stat().st_mode & 0o777 == 0o600, path
        files = [p for p in home.rglob("*") if p.is_file()]
        assert wal in files
        for path in files:
            data = path.read_bytes()
            for key in KEYS.values():
                assert key.encode() not in data, path
    finally:
        reader.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_never_answers_with_a_key(everything, modelctl_home):
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    fakes = everything
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "modelctl", "serve", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    bodies = []
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        fakes["OPENAI_API_KEY"].fail_next("unauthorized")
        for method, path, body in (("GET", "/health", None), ("GET", "/models", None), ("GET", "/providers", None),
                                   ("POST", "/route", {"query": QUERY}), ("POST", "/discover", None),
                                   ("GET", "/metrics", None)):
            request = urllib.request.Request(base + path, method=method,
                                             data=None if body is None else json.dumps(body).encode(),
                                             headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    bodies.append(response.read())
            except urllib.error.HTTPError as exc:
                bodies.append(exc.read())
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert any(b"healthy" in b for b in bodies), bodies
    for key in KEYS.values():
        for blob in (*bodies, out, err):
            assert key.encode() not in blob
    _assert_private_and_keyless(modelctl_home)
