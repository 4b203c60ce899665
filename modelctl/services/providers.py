"""Provider use cases: what is configured, joined with the health state the store keeps."""

from __future__ import annotations

from typing import Any

from modelctl.errors import ConfigError
from modelctl.providers.base import ProviderSettings
from modelctl.store.catalog import provider_states
from modelctl.store.db import Store


def provider_report(store: Store) -> list[dict[str, Any]]:
    """Per provider, as its kind's rules resolve it: the base URL called (None when none is set),
    the key's env var and whether it is set (never the key)."""
    from modelctl.config import load_providers

    states = provider_states(store)
    report = []
    for name, cfg in sorted(load_providers().items()):
        settings = cfg.settings(name)
        state = states.get(name, {})
        report.append({
            "name": name,
            "kind": cfg.kind,
            "base_url": _base_url(settings),
            "api_key_env": settings.key_env,
            "key_set": not settings.key_missing(),
            "health": state.get("health", "unknown"),
            "cooldown_until": state.get("cooldown_until"),
        })
    return report


def _base_url(settings: ProviderSettings) -> str | None:
    try:
        return settings.resolve_base_url()
    except ConfigError:
        return None
