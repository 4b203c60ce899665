"""POST /route, /route/refinement and GET /classify decide exactly as the CLI does."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

NOW = "2026-11-28T09:00:00Z"


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    monkeypatch.setenv("MODELCTL_NOW", NOW)  # the CLI and the server decide at the same instant


@pytest.mark.parametrize("query", [
    "What is the capital of France?",
    "Why does my Dockerfile COPY fail with 'no such file'?",
    "Compare Postgres and MySQL for analytics across cost, scaling and tooling, in depth",
])
def test_route_is_route_json_plus_notes(api, cli, query):
    response = api.client.post("/route", json={"query": query})
    assert response.status_code == 200
    served = response.json()
    assert any("--ignore-keys" in note for note in served.pop("notes"))  # no provider key in tests
    assert served == cli.json("route", query)
    assert {"model_id", "provider", "confidence", "fallback_models", "estimated_cost", "estimated_latency",
            "query_type", "reason"} <= set(served)


def test_route_options_reach_the_router(api, cli):
    body = {"query": "Write a SQL query for monthly revenue", "segment": "research", "require": ["tool_use"],
            "objective": "cost", "request_id": "req-7", "max_cost": 0.5, "deadline_ms": 9000}
    served = api.client.post("/route", json=body).json()
    served.pop("notes")
    assert served == cli.json("route", body["query"], "--segment", "research", "--require", "tool_use",
                              "--objective", "cost", "--request-id", "req-7", "--max-cost", "0.5",
                              "--deadline-ms", "9000")
    assert served["segment"] == "research"


@pytest.mark.parametrize("context", [{"has_images": True}, {"files": ["scan.pdf"]},
                                     {"files": ["https://example.com/cat.png"], "client": "gateway-1"}])
def test_attachments_make_a_query_multimedia_and_need_a_multimodal_model(api, context):
    decision = api.client.post("/route", json={"query": "What is in this?", "context": context}).json()
    assert decision["query_type"] == "multimedia"
    model = api.client.get(f"/models/{decision['model_id']}").json()
    assert model["capabilities"]["multimodal"] is True


def test_file_names_are_never_opened_on_the_server(api):
    decision = api.client.post("/route", json={"query": "summarise", "context": {"files": ["/etc/shadow"]}})
    assert decision.status_code == 200 and decision.json()["query_type"] == "multimedia"


def test_refinement_matches_route_refinement(api, cli):
    served = api.client.post("/route/refinement", json={"query": "fix the grammar: he go home",
                                                         "refinement_type": "quality"}).json()
    served.pop("notes")
    assert served == cli.json("route", "fix the grammar: he go home", "--refinement", "--refinement-type", "quality")
    assert served["segment"] == "refinement:quality"


def test_classify_matches_the_cli(api, cli):
    query = "how do I exit vim"
    response = api.client.get("/classify", params={"query": query})
    assert response.json() == cli.json("classify", query)


@pytest.mark.parametrize(("body", "field"), [
    ({"context": {}}, "query"),
    ({"query": "hi", "refinement_type": "slow"}, "refinement_type"),
])
def test_bad_refinement_bodies_name_the_field(api, body, field):
    response = api.client.post("/route/refinement", json=body)
    assert response.status_code == 422
    assert field in [str(part) for err in response.json()["detail"] for part in err["loc"]]


@pytest.mark.parametrize(("body", "words"), [
    ({"query": "hi", "objective": "fastest"}, "objective"),
    ({"query": "hi", "require": ["telepathy"]}, "require"),
    ({"query": "hi\x00there"}, "query"),
    ({"query": " \n "}, "query"),
    ({"query": "x" * 100_001}, "limit is 100,000 characters"),
    ({"query": "hi", "context": {"files": [""]}}, "context.files"),
    ({"query": "hi", "max_cost": -1}, "max_cost"),
])
def test_bad_route_bodies_get_422_saying_what_is_wrong(api, body, words):
    response = api.client.post("/route", json=body)
    assert response.status_code == 422
    assert words in response.text


def test_bad_json_is_422(api):
    response = api.client.post("/route", content=b'{"query": ', headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "json_invalid"


def test_the_servers_decisions_are_counted_in_metrics(api):
    for _ in range(3):
        api.client.post("/route", json={"query": "What is the capital of France?"})
    api.client.post("/route", json={"query": "What is in this?", "context": {"has_images": True}})
    families = {f.name: f for f in text_string_to_metric_families(api.client.get("/metrics").text)}
    counted = {(s.labels["segment"], s.labels["arm"]): s.value
               for s in families["modelctl_api_route_decisions"].samples if s.name.endswith("_total")}
    assert counted == {("simple", "control"): 3, ("multimedia", "control"): 1}


def test_a_query_no_model_can_take_is_409_with_every_candidates_reason(api):
    response = api.client.post("/route", json={"query": "What is the capital of France?", "deadline_ms": 1})
    assert response.status_code == 409
    body = response.json()
    assert "no model can serve segment 'simple'" in body["detail"]
    assert body["reason"] and all(c["verdict"] == "dropped" for c in body["reason"])


@pytest.mark.parametrize("query", ["café\x85 next line", "bell \x07 and escape \x1b[31m"])
def test_any_unicode_text_routes_over_http_as_on_the_command_line(api, query):
    """U+0085 (NEL) is common in text decoded from Windows-1252: a 422 refused real prompts."""
    assert api.client.post("/route", json={"query": query}).status_code == 200
    assert api.client.get("/classify", params={"query": query}).status_code == 200
