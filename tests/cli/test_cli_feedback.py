"""`modelctl feedback`: a user's score lands on the attempt that answered, once, where the gates read it."""

from __future__ import annotations

import json

import pytest

GPT = "gpt-4o-2024-08-06"
HAIKU = "claude-haiku-5-5"
TS = "2026-11-27T10:15:00Z"


def _import(cli, *records):
    cli("usage", "import", "-", input="".join(json.dumps({"ts": TS, "segment": "simple", **r}) + "\n"
                                              for r in records))


def _fallback_then_shadow(cli, request_id="req-1"):
    """A request whose first model failed, whose second answered, with a shadow call after it."""
    _import(
        cli,
        {"model_id": GPT, "latency_ms": 900, "success": False, "error_kind": "timeout",
         "request_id": request_id, "attempt": 0},
        {"model_id": HAIKU, "latency_ms": 700, "request_id": request_id, "attempt": 1},
        {"model_id": GPT, "latency_ms": 500, "arm": "shadow", "request_id": request_id, "attempt": 2},
    )


def _measured_quality(cli, model_id):
    return cli.json("models", "show", model_id)["performance"]["quality_score"]["measured"]


def test_the_score_goes_to_the_attempt_that_answered(cli):
    _fallback_then_shadow(cli)
    result = cli.json("feedback", "req-1", "--score", "0.8")
    assert (result["model_id"], result["arm"], result["attempt"], result["score"]) == (HAIKU, "control", 1, 0.8)
    assert result["replaced"] is None
    assert _measured_quality(cli, HAIKU) == 0.8
    assert _measured_quality(cli, GPT) is None  # neither the failed call nor the shadow call


def test_a_second_score_replaces_the_first_and_is_counted_once(cli):
    _fallback_then_shadow(cli)
    _import(cli, {"model_id": HAIKU, "latency_ms": 600, "request_id": "req-2", "quality": 1.0})
    cli("feedback", "req-1", "--score", "0.2")
    again = cli.json("feedback", "req-1", "--score", "0.6")
    assert again["replaced"] == 0.2
    assert _measured_quality(cli, HAIKU) == pytest.approx((0.6 + 1.0) / 2)  # not (0.2 + 0.6 + 1.0) / 3
    said = cli("feedback", "req-1", "--score", "1").stderr
    assert "replaced 0.6" in said and HAIKU in said


def test_unknown_or_unanswered_requests_exit_3(cli):
    result = cli("feedback", "no-such-request", "--score", "0.5", code=3)
    assert "no request no-such-request" in result.stderr and "run --json" in result.stderr
    _import(cli, {"model_id": GPT, "latency_ms": 900, "success": False, "request_id": "failed", "attempt": 0},
            {"model_id": GPT, "latency_ms": 400, "arm": "shadow", "request_id": "failed", "attempt": 1})
    assert "never answered" in cli("feedback", "failed", "--score", "0.5", code=3).stderr
    assert _measured_quality(cli, GPT) is None


@pytest.mark.parametrize("score", ["1.5", "-0.1", "nan", "inf"])
def test_a_score_outside_0_to_1_exits_2_and_stores_nothing(cli, score):
    _fallback_then_shadow(cli)
    assert "score: must be a number from 0 to 1" in cli("feedback", "req-1", "--score", score, code=2).stderr
    assert _measured_quality(cli, HAIKU) is None


def test_help_has_a_runnable_example(cli):
    text = cli("feedback", "-h").stdout
    assert "modelctl feedback" in text and "--score 0.8" in text and "replaces" in text
