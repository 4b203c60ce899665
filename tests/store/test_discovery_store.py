"""Discovered candidates as `discover candidates` and GET /candidates list them, on either backend."""

from __future__ import annotations

from datetime import datetime

from modelctl.core.catalog import ModelSpec
from modelctl.services.database import open_database
from modelctl.store.discovery import insert_found, list_candidates

NOW = datetime(2026, 12, 1)


def test_candidates_list_newest_first_and_filter_by_provider():
    store = open_database()
    with store.write() as conn:
        insert_found(conn, [(ModelSpec("gpt-7-2026-11-01", "openai", status="candidate"), "pinned", "openai")],
                     now=NOW)
        insert_found(conn, [(ModelSpec("claude-x-2026-12-01", "anthropic", status="candidate",
                                       input_cost_per_1k=0.003, output_cost_per_1k=0.015), "pinned", "anthropic")],
                     now=NOW.replace(hour=1))
    everything = list_candidates(store)
    assert [c["model_id"] for c in everything] == ["claude-x-2026-12-01", "gpt-7-2026-11-01"]
    assert [c["priced"] for c in everything] == [True, False]
    assert [c["model_id"] for c in list_candidates(store, provider="openai")] == ["gpt-7-2026-11-01"]
    assert list_candidates(store, provider="ollama") == []
