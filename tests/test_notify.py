"""Rollout notifications against a loopback webhook: the body a chat shows, retries, Retry-After,
the time cap that keeps `upgrade tick` short, and no key ever in the body."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator

import pytest

from modelctl.config import NotifySettings
from modelctl.services.notify import RolloutEvent, notify
from tests.fakes.server import unused_port_url
from tests.fakes.webhook import Answer, FakeWebhook

KEY = "sk-test-notify-5c3e1a9b7d2f4068-secret"
ROLLBACK = RolloutEvent("rolled_back", incumbent="gpt-4o-2024-08-06", candidate="gpt-6-luna", rollout=7,
                        phase="rolled_back", segments=("simple", "technical"), traffic_pct=0.0,
                        reason="success rate 91.0% vs 99.0% (p = 2e-05)")


@pytest.fixture
def fake_webhook() -> Iterator[FakeWebhook]:
    hook = FakeWebhook()
    try:
        yield hook
    finally:
        hook.close()


def _settings(hook, **fields) -> NotifySettings:
    return NotifySettings(webhook_url=hook.url, **fields)


def test_the_body_is_slack_text_plus_the_event_fields(fake_webhook):
    outcome = notify(ROLLBACK, _settings(fake_webhook))
    assert outcome.delivered and outcome.attempts == 1 and outcome.warning is None
    (request,) = fake_webhook.requests
    assert request.method == "POST" and request.headers["content-type"] == "application/json"
    body = request.json
    assert body["text"] == ("modelctl #7: rollout of gpt-6-luna against gpt-4o-2024-08-06 on simple, technical "
                            "rolled back: success rate 91.0% vs 99.0% (p = 2e-05)")
    assert {k: body[k] for k in ("event", "rollout", "candidate", "incumbent", "phase", "segments", "reason")} == {
        "event": "rolled_back", "rollout": 7, "candidate": "gpt-6-luna", "incumbent": "gpt-4o-2024-08-06",
        "phase": "rolled_back", "segments": ["simple", "technical"], "reason": ROLLBACK.reason}


def test_every_event_reads_as_a_sentence(fake_webhook):
    events = [
        RolloutEvent("rollout_started", "gpt-4o-2024-08-06", "gpt-6-luna", 1, "shadow", ("simple",), 5.0),
        RolloutEvent("phase_changed", "gpt-4o-2024-08-06", "gpt-6-luna", 1, "canary", ("simple",), 10.0,
                     "gates passed"),
        RolloutEvent("rejected", "gpt-4o-2024-08-06", "gpt-6-luna", 1, "rejected", reason="inconclusive after 48 h"),
        RolloutEvent("retirement_without_successor", "claude-3-5-sonnet-20241022", "claude-sonnet-5-5",
                     reason="retires 2026-12-01; the successor failed its evaluation"),
    ]
    for event in events:
        assert notify(event, _settings(fake_webhook)).delivered
    texts = [r.json["text"] for r in fake_webhook.requests]
    assert texts[0] == ("modelctl #1: rollout of gpt-6-luna against gpt-4o-2024-08-06 on simple started in shadow "
                        "at 5% of traffic")
    assert texts[1].endswith("moved to canary at 10% of traffic: gates passed")
    assert texts[2].endswith("rejected: inconclusive after 48 h")
    assert texts[3] == ("modelctl: claude-3-5-sonnet-20241022 retires soon and has no passing successor "
                        "(claude-sonnet-5-5): retires 2026-12-01; the successor failed its evaluation")


def test_a_500_is_tried_again_then_delivered(fake_webhook):
    fake_webhook.answer_next(Answer(500), Answer(503))
    outcome = notify(ROLLBACK, _settings(fake_webhook))
    assert outcome.delivered and outcome.attempts == 3
    gaps = [b - a for a, b in itertools.pairwise(fake_webhook.times)]
    assert gaps[1] > gaps[0] * 1.5  # the wait doubles


def test_retry_after_is_waited_out(fake_webhook):
    fake_webhook.answer_next(Answer(429, retry_after="1"))
    outcome = notify(ROLLBACK, _settings(fake_webhook))
    assert outcome.delivered and outcome.attempts == 2
    assert fake_webhook.times[1] - fake_webhook.times[0] >= 0.95


def test_a_retry_after_beyond_the_cap_gives_up_at_once_with_a_warning(fake_webhook):
    fake_webhook.answer_next(Answer(429, retry_after="30"))
    started = time.monotonic()
    outcome = notify(ROLLBACK, _settings(fake_webhook, max_seconds=2))
    assert time.monotonic() - started < 1
    assert not outcome.delivered and outcome.attempts == 1
    assert "HTTP 429" in outcome.warning and "127.0.0.1" in outcome.warning


def test_a_hanging_webhook_holds_the_caller_no_longer_than_the_cap(fake_webhook):
    fake_webhook.answer_next(Answer(delay_s=10))
    started = time.monotonic()
    outcome = notify(ROLLBACK, _settings(fake_webhook, max_seconds=1))
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, elapsed
    assert not outcome.delivered and "no answer after 1 attempt(s) within 1 s" in outcome.warning


def test_a_webhook_that_keeps_failing_stops_within_the_cap(fake_webhook):
    fake_webhook.answer_next(*[Answer(502)] * 50)
    started = time.monotonic()
    outcome = notify(ROLLBACK, _settings(fake_webhook, max_seconds=1.5))
    assert time.monotonic() - started < 2.0
    assert not outcome.delivered and outcome.attempts >= 2 and "HTTP 502" in outcome.warning


def test_a_404_is_not_tried_again_and_the_warning_hides_the_secret_path(fake_webhook):
    fake_webhook.answer_next(Answer(404))
    outcome = notify(ROLLBACK, _settings(fake_webhook))
    assert not outcome.delivered and outcome.attempts == 1 and len(fake_webhook.requests) == 1
    assert "HTTP 404" in outcome.warning and "127.0.0.1" in outcome.warning
    assert "secret-path" not in outcome.warning


def test_an_unreachable_webhook_is_tried_again_until_the_cap():
    started = time.monotonic()
    outcome = notify(ROLLBACK, NotifySettings(webhook_url=unused_port_url() + "/hook/secret-path", max_seconds=1))
    assert time.monotonic() - started < 1.5
    assert not outcome.delivered and outcome.attempts >= 2
    assert "cannot connect" in outcome.warning and "secret-path" not in outcome.warning


def test_no_webhook_configured_sends_nothing(fake_webhook):
    outcome = notify(ROLLBACK, NotifySettings())
    assert not outcome.delivered and outcome.warning is None and outcome.attempts == 0
    assert fake_webhook.requests == []


def test_the_url_comes_from_the_env_var_before_the_file(fake_webhook, monkeypatch):
    monkeypatch.setenv("MODELCTL_WEBHOOK_URL", fake_webhook.url)
    assert notify(ROLLBACK, NotifySettings(webhook_url="http://127.0.0.1:9/unused")).delivered
    monkeypatch.setenv("TEAM_HOOK", fake_webhook.url)
    assert notify(ROLLBACK, NotifySettings(webhook_url_env="TEAM_HOOK")).delivered
    assert len(fake_webhook.requests) == 2


def test_no_provider_key_ever_reaches_the_body(fake_webhook, monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "OPENROUTER_API_KEY"):
        monkeypatch.setenv(name, f"{KEY}-{name}")
    leaky = RolloutEvent("rolled_back", "gpt-4o-2024-08-06", "gpt-6-luna", 3, "rolled_back",
                         reason=f"candidate refused: Invalid API key: {KEY}-OPENAI_API_KEY")
    assert notify(leaky, _settings(fake_webhook)).delivered
    (request,) = fake_webhook.requests
    sent = json.dumps(request.json) + json.dumps(request.headers)
    assert KEY not in sent and "[redacted]" in request.json["reason"]
    assert "authorization" not in request.headers


def test_upgrade_yaml_takes_a_notify_section(tmp_path):
    from modelctl.config import load_upgrade
    from modelctl.errors import ConfigError
    from modelctl.paths import config_path

    bundled = config_path("upgrade.yaml").read_text()
    assert load_upgrade().notify == NotifySettings()
    good = tmp_path / "upgrade.yaml"
    good.write_text(bundled + "notify: {webhook_url: 'https://hooks.example.com/x', max_seconds: 2}\n")
    assert load_upgrade(good).notify.max_seconds == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(bundled + "notify: {webhook_url: 'hooks.example.com/x'}\n")
    with pytest.raises(ConfigError, match=r"notify\.webhook_url"):
        load_upgrade(bad)
