"""The bundled defaults are those a cost-conscious engineer would pick today (issue 18 item 1): cheap
first where a query is simple, no retired model at the head of a chain, every named successor at hand.

These tests read the bundled config/ on purpose; tests of the routing mechanics use the
`original_chains` fixture instead, so they do not move when the defaults do.
"""

from __future__ import annotations

from modelctl.clock import now
from modelctl.config import load_catalog, load_policy
from modelctl.paths import bundled_config_dir
from tests.fakes.server import unused_port_url

CATALOG = {m.model_id: m for m in load_catalog(bundled_config_dir() / "models.yaml")}
POLICY = load_policy(bundled_config_dir() / "policy.yaml")
CHAINS = {
    **{f"segment {name}": s.chain for name, s in POLICY.segments.items()},
    **{f"refinement {name}": r.chain for name, r in POLICY.refinement.items()},
}


def _retired(model_id: str) -> bool:
    spec = CATALOG[model_id]
    return spec.deprecation_date is not None and spec.deprecation_date <= now().date()


def test_a_simple_question_goes_to_the_cheapest_live_model(cli):
    decision = cli.json("route", "What is the capital of France?", "--ignore-keys")
    assert (decision["segment"], decision["model_id"]) == ("simple", "gpt-6-luna")
    assert decision["reason"][0]["reason"] == "first choice of the simple policy"
    # a local model costs nothing but is the last resort; no hosted candidate is cheaper
    hosted = [c for c in decision["reason"] if c["provider"] != "ollama" and c["estimated_cost"] is not None]
    assert len(hosted) > 1
    assert all(decision["estimated_cost"] <= c["estimated_cost"] for c in hosted)


def test_every_successor_named_in_the_catalog_is_in_the_catalog():
    named = {m.model_id: m.successor for m in CATALOG.values() if m.successor}
    assert named, "the bundled catalog names successors"
    assert {old: new for old, new in named.items() if new not in CATALOG} == {}


def test_every_chain_model_is_in_the_catalog():
    assert {where: [m for m in chain if m not in CATALOG] for where, chain in CHAINS.items()
            if any(m not in CATALOG for m in chain)} == {}


def test_no_bundled_chain_starts_with_a_retired_model():
    """The first model of a chain is the one it serves: it must not be past its retirement date
    (a later one may be, while it lasts, as a fallback)."""
    assert {where: chain[0] for where, chain in CHAINS.items() if _retired(chain[0])} == {}


def test_the_first_run_without_keys_says_which_keys_to_set(cli, monkeypatch, fake_ollama):
    """A fresh machine: no keys, Ollama not started yet. The failure names what was skipped and the
    variable to set; once Ollama listens it answers at once, and a note still names the rest."""
    query = "What is the capital of France?"
    openai = "gpt-6-luna, gpt-5.4-mini-2026-03-17: not tried, provider openai has no API key: set OPENAI_API_KEY"
    anthropic = ("claude-haiku-5-5, claude-sonnet-5-5: not tried, provider anthropic has no API key: "
                 "set ANTHROPIC_API_KEY")
    monkeypatch.setenv("OLLAMA_HOST", unused_port_url())
    stderr = cli("run", query, code=4).stderr
    assert stderr.splitlines()[1:] == [
        "  llama3.1:8b: ollama llama3.1:8b: cannot connect ([Errno 111] Connection refused)",
        f"  {openai}",
        f"  {anthropic}",
    ]
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama.base_url)
    result = cli("run", query)
    assert result.stdout.strip() == fake_ollama.answer_text
    assert ("note: not tried for want of an API key: gpt-6-luna, gpt-5.4-mini-2026-03-17 (provider openai"
            in result.stderr)
