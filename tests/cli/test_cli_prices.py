"""`modelctl prices sync` from a LiteLLM-format map, as a file and over HTTP on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# What the bundled catalog says of gpt-4o-2024-08-06: $0.0025 / $0.01 per 1k, 128k context,
# multimodal, deprecated on 2027-01-14.
MAP = {
    "sample_spec": {"mode": "chat"},
    "gpt-4o-2024-08-06": {
        "litellm_provider": "openai", "mode": "chat",
        "input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06,
        "max_input_tokens": 256000, "max_output_tokens": 16384,
        "supports_vision": False, "supports_function_calling": True,
        "deprecation_date": "2026-12-31", "successor_model": "gpt-7",
    },
    # same facts the catalog has: no change
    "gpt-4o-mini-2024-07-18": {"litellm_provider": "openai", "mode": "chat"},
    # priced for another reseller under the bare id: not ours
    "claude-opus-4-7-20260416": {"litellm_provider": "bedrock", "mode": "chat", "input_cost_per_token": 1.0},
}


@pytest.fixture
def price_file(tmp_path):
    path = tmp_path / "model_prices_and_context_window.json"
    path.write_text(json.dumps(MAP))
    return path


@pytest.fixture
def price_server():
    """Serves the map at /prices.json and a 404 anywhere else, on 127.0.0.1."""
    body = json.dumps(MAP).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/prices.json"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _gpt4o(cli) -> dict:
    return cli.json("models", "show", "gpt-4o-2024-08-06")["model"]


def test_sync_from_a_file_updates_prices_limits_flags_and_dates(cli, price_file):
    report = cli.json("prices", "sync", str(price_file))

    assert [c["model_id"] for c in report["changed"]] == ["gpt-4o-2024-08-06"]
    changes = report["changed"][0]["changes"]
    assert changes["input_cost_per_1k"] == {"before": 0.0025, "after": 0.002}
    assert changes["capabilities.multimodal"] == {"before": True, "after": False}
    model = _gpt4o(cli)
    assert (model["input_cost_per_1k"], model["output_cost_per_1k"]) == (0.002, 0.008)
    assert model["max_context_tokens"] == 256000
    assert "multimodal" not in model["capabilities"] and "function_calling" in model["capabilities"]
    assert (model["deprecation_date"], model["successor"]) == ("2026-12-31", "gpt-7")
    assert "claude-opus-4-7-20260416" in report["unmatched"]  # the bedrock price is not applied
    audit = cli.json("audit")[0]
    assert audit["action"] == "prices-sync" and audit["target"] == "gpt-4o-2024-08-06"
    assert audit["before"]["input_cost_per_1k"] == 0.0025 and audit["after"]["from"] == str(price_file)


def test_sync_shows_a_diff_table(cli, price_file):
    out = cli("prices", "sync", str(price_file), "--dry-run").stdout

    assert "would change 1 of" in out
    assert "input_cost_per_1k" in out and "0.0025" in out and "0.002" in out


def test_dry_run_and_a_second_sync_change_nothing(cli, price_file):
    before = _gpt4o(cli)
    assert cli.json("prices", "sync", str(price_file), "--dry-run")["changed"]
    assert _gpt4o(cli) == before

    cli("prices", "sync", str(price_file))
    audits = len(cli.json("audit"))
    assert cli.json("prices", "sync", str(price_file))["changed"] == []
    assert len(cli.json("audit")) == audits


def test_sync_fetches_a_url(cli, price_server):
    report = cli.json("prices", "sync", price_server + "/prices.json")

    assert report["source"].endswith("/prices.json")
    assert _gpt4o(cli)["input_cost_per_1k"] == 0.002


def test_default_source_is_the_configured_price_map(cli, price_server, tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.mkdir()
    (config / "discovery.yaml").write_text(f"price_map: {price_server}/prices.json\n")
    monkeypatch.setenv("MODELCTL_CONFIG_DIR", str(config))

    assert cli.json("prices", "sync")["source"] == f"{price_server}/prices.json"


def test_unreachable_or_bad_maps_change_nothing_and_say_why(cli, price_server, tmp_path):
    before = _gpt4o(cli)
    assert "HTTP 404" in cli("prices", "sync", price_server + "/missing.json", code=1).stderr
    assert "no such file" in cli("prices", "sync", str(tmp_path / "nope.json"), code=2).stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"gpt-4o": {"mode": "chat",\n  "input_cost_per_token": }')
    assert "broken.json:2: not valid JSON" in cli("prices", "sync", str(broken), code=2).stderr
    negative = tmp_path / "negative.json"
    negative.write_text(json.dumps({"gpt-4o-2024-08-06": {"mode": "chat", "input_cost_per_token": -1}}))
    assert "input_cost_per_token" in cli("prices", "sync", str(negative), code=2).stderr
    assert _gpt4o(cli) == before
