"""Provider use cases: what is configured, joined with the health state the store keeps."""

from __future__ import annotations

from typing import Any

from modelctl.store.catalog import provider_states
from modelctl.store.db import Store


def provider_report(store: Store) -> list[dict[str, Any]]:
    from modelctl.config import load_providers

    states = provider_states(store)
    report = []
    for name, cfg in sorted(load_providers().items()):
        state = states.get(name, {})
        report.append({
            "name": name,
            "kind": cfg.kind,
            "base_url": cfg.resolved_base_url(),
            "api_key_env": cfg.api_key_env,
            "key_set": cfg.key_present(),
            "health": state.get("health", "unknown"),
            "cooldown_until": state.get("cooldown_until"),
        })
    return report
