"""POST /feedback: what `modelctl feedback` does, with 404 and 422 for what the command exits 3 and 2 on."""

from __future__ import annotations

import pytest

GPT = "gpt-4o-2024-08-06"
TOKEN = "t0ken-for-feedback-tests-0123"


def _answered(api, request_id="req-9"):
    for attempt, body in enumerate([{"success": False, "error_kind": "timeout"}, {}, {"arm": "shadow"}]):
        recorded = api.client.post(f"/models/{GPT}/usage", json={
            "latency_ms": 300, "request_id": request_id, "attempt": attempt, **body})
        assert recorded.status_code == 200, recorded.text


def test_feedback_scores_the_served_attempt_and_replaces_on_repeat(api, cli):
    _answered(api)
    first = api.client.post("/feedback", json={"request_id": "req-9", "score": 0.3})
    assert first.status_code == 200, first.text
    assert (first.json()["attempt"], first.json()["arm"], first.json()["replaced"]) == (1, "control", None)
    second = api.client.post("/feedback", json={"request_id": "req-9", "score": 0.9}).json()
    assert second["replaced"] == 0.3
    assert cli.json("models", "show", GPT)["performance"]["quality_score"]["measured"] == 0.9


def test_unknown_request_is_404(api):
    response = api.client.post("/feedback", json={"request_id": "nobody", "score": 0.5})
    assert response.status_code == 404 and "no request nobody" in response.json()["detail"]


@pytest.mark.parametrize("body", [
    {"request_id": "req-9", "score": 1.01},
    {"request_id": "req-9", "score": -1},
    {"request_id": "req-9", "score": "NaN"},
    {"request_id": "req-9"},
    {"request_id": "", "score": 0.5},
])
def test_bad_bodies_are_422(api, body):
    _answered(api)
    response = api.client.post("/feedback", json=body)
    assert response.status_code == 422, response.text


def test_feedback_needs_the_token(serve):
    api = serve(token=TOKEN)
    assert api.client.post("/feedback", json={"request_id": "x", "score": 0.5}).status_code == 401
    allowed = api.client.post("/feedback", json={"request_id": "x", "score": 0.5},
                              headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 404
