"""Keep catalog prices true to a LiteLLM-format price map (`prices sync`), and read that map for
`discover`, so recorded costs are neither $0 nor last year's price."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from modelctl import clock
from modelctl.core import pricemap
from modelctl.core.catalog import ModelSpec
from modelctl.errors import InvalidInput, ModelctlError
from modelctl.files import read_text
from modelctl.paths import actor
from modelctl.store import catalog as repo
from modelctl.store.db import Store

DEFAULT_PRICE_MAP_URL = (
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
)


def read_price_map(source: str, *, timeout_s: float = 30.0) -> Mapping[str, pricemap.PriceEntry]:
    """The map from a file path or an http(s) URL, its entries validated as they are looked up."""
    is_url = source.startswith(("http://", "https://"))
    text = _fetch(source, timeout_s=timeout_s) if is_url else read_text(source)
    data = pricemap.load_json_map(text, source=source)
    return PriceMap(data, source=source)


class PriceMap(Mapping):
    """The raw map, each entry parsed on first lookup.

    A sync touches a few hundred of the map's thousands of entries; parsing only those keeps
    `prices sync` fast, and an entry no catalog model uses cannot stop the sync. A bad entry that
    is used raises InvalidInput naming the source, so a bad price still never reaches the catalog.
    """

    def __init__(self, raw: dict[str, object], *, source: str) -> None:
        self._raw = raw
        self._parsed: dict[str, pricemap.PriceEntry] = {}
        self.source = source

    def __getitem__(self, key: str) -> pricemap.PriceEntry:
        entry = self._parsed.get(key)
        if entry is None:
            if key == "sample_spec":
                raise KeyError(key)
            try:
                entry = pricemap.parse_price_map({key: self._raw[key]})[key]
            except InvalidInput as exc:
                raise InvalidInput(f"{self.source}: {exc}") from None
            self._parsed[key] = entry
        return entry

    def __iter__(self) -> Iterator[str]:
        return (key for key in self._raw if key != "sample_spec")

    def __len__(self) -> int:
        return len(self._raw) - ("sample_spec" in self._raw)


def _fetch(url: str, *, timeout_s: float) -> str:
    import httpx2

    hint = "pass a local copy instead: modelctl prices sync FILE"
    try:
        response = httpx2.get(url, timeout=timeout_s, follow_redirects=True)
    except httpx2.HTTPError as exc:
        raise ModelctlError(f"{url}: cannot fetch the price map ({type(exc).__name__}: {exc}); {hint}") from None
    if not response.is_success:
        raise ModelctlError(f"{url}: the server answered HTTP {response.status_code}; {hint}")
    return response.text


def provider_kinds(names: set[str]) -> dict[str, str]:
    """Catalog provider name -> the provider the price map files it under. The five built-in
    names are their own kind; providers.yaml is read only for others (openai_compatible ones)."""
    if names <= set(pricemap.PROVIDERS):
        return {name: name for name in names}
    from modelctl.config import load_providers

    return {name: cfg.kind for name, cfg in load_providers().items()}


def apply_changes(spec: ModelSpec, changes: dict[str, tuple[object, object]]) -> ModelSpec:
    """`spec` with the map's values from `pricemap.diff_prices` taken in."""
    values: dict[str, Any] = {}
    capabilities = set(spec.capabilities)
    for name, (_, new) in changes.items():
        if name.startswith("capabilities."):
            flag = name.removeprefix("capabilities.")
            (capabilities.add if new else capabilities.discard)(flag)
        else:
            values[name] = new
    return replace(spec, capabilities=frozenset(capabilities), **values)


@dataclass(frozen=True)
class PriceChange:
    model_id: str
    provider: str
    entry: str  # the map key the values came from
    changes: dict[str, tuple[object, object]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "provider": self.provider,
            "entry": self.entry,
            "changes": {name: {"before": old, "after": new} for name, (old, new) in self.changes.items()},
        }


@dataclass
class SyncReport:
    source: str
    dry_run: bool
    checked: int = 0
    changed: list[PriceChange] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "checked": self.checked,
            "changed": [change.as_dict() for change in self.changed],
            "unmatched": self.unmatched,
        }


def default_source() -> str:
    """The configured local copy or URL (discovery.yaml price_map), else LiteLLM's public map."""
    from modelctl.config import load_discovery

    return load_discovery().price_map or DEFAULT_PRICE_MAP_URL


def sync_prices(store: Store, *, source: str | None = None, dry_run: bool = False) -> SyncReport:
    """Update prices, context windows, capability flags and end dates of catalog models (audited).

    A model the map does not know is listed in `unmatched` and left alone.
    """
    source = source or default_source()
    entries = read_price_map(source)
    specs = repo.list_models(store)
    kinds = provider_kinds({spec.provider for spec in specs})
    report = SyncReport(source=source, dry_run=dry_run)
    updated: list[ModelSpec] = []
    for spec in specs:
        report.checked += 1
        entry = pricemap.lookup(entries, spec.model_id, kinds.get(spec.provider, spec.provider))
        if entry is None:
            report.unmatched.append(spec.model_id)
            continue
        changes = pricemap.diff_prices(spec, entry)
        if changes:
            report.changed.append(PriceChange(spec.model_id, spec.provider, entry.key, changes))
            updated.append(apply_changes(spec, changes))
    if dry_run or not updated:
        return report
    now = clock.now()
    who = actor()
    with store.write() as conn:
        repo.upsert_models(conn, updated, now=now)
        for change in report.changed:
            repo.write_audit(
                conn, actor=who, action="prices-sync", target=change.model_id,
                before={name: old for name, (old, _) in change.changes.items()},
                after={**{name: new for name, (_, new) in change.changes.items()}, "from": source},
                now=now,
            )
    return report
