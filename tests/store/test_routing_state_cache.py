"""The routing state is read once per process and re-read as soon as the database changes."""

from modelctl import clock
from modelctl.services.catalog import set_status
from modelctl.services.database import open_database
from modelctl.services.routing import cached_routing_state, load_routing_config


def test_state_is_reused_until_another_connection_commits(tmp_path):
    store = open_database(str(tmp_path / "r.db"))
    config, now = load_routing_config(), clock.now()
    first = cached_routing_state(store, config, now=now)
    assert cached_routing_state(store, config, now=now) is first
    set_status(store, "gpt-4o-2024-08-06", "disabled")  # a write through the engine's own connection
    second = cached_routing_state(store, config, now=now)
    assert second is not first and second.models["gpt-4o-2024-08-06"].status == "disabled"


def test_setting_a_key_is_seen_without_a_database_change(tmp_path, monkeypatch):
    store = open_database(str(tmp_path / "k.db"))
    config, now = load_routing_config(), clock.now()
    assert not cached_routing_state(store, config, now=now).providers["openai"].key_present
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert cached_routing_state(store, config, now=now).providers["openai"].key_present


def test_another_store_never_gets_this_ones_state(tmp_path):
    config, now = load_routing_config(), clock.now()
    a = open_database(str(tmp_path / "a.db"))
    b = open_database(str(tmp_path / "b.db"))
    set_status(b, "gpt-4o-2024-08-06", "disabled")
    assert cached_routing_state(a, config, now=now).models["gpt-4o-2024-08-06"].status == "stable"
    assert cached_routing_state(b, config, now=now).models["gpt-4o-2024-08-06"].status == "disabled"
