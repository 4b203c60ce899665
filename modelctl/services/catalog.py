"""Catalog use cases: seed, list with the registry's filters, show, import, change status."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelctl import clock
from modelctl.core.catalog import CAPABILITIES, STATUSES, ModelSpec
from modelctl.core.names import closest_names
from modelctl.errors import InvalidInput, NotFound
from modelctl.files import read_text
from modelctl.paths import actor
from modelctl.store import catalog as repo
from modelctl.store.catalog import spec_to_json
from modelctl.store.db import Store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def seed_catalog(store: Store, *, action: str, reseed: bool = False) -> int:
    """Load the catalog and providers config into the database; returns how many models changed."""
    with store.write() as conn:
        # a reseed restores the bundled facts but keeps what the store learned and decided
        return seed_into(conn, action=action, keep_status_of=repo.list_models(store) if reseed else ())


def seed_into(conn: Connection, *, action: str, keep_status_of: Iterable[ModelSpec] = ()) -> int:
    """seed_catalog in the caller's transaction: a new database gets its schema and its catalog in
    one commit, so no other process sees the schema current and the catalog empty."""
    from modelctl.config import load_catalog, load_providers

    statuses = {spec.model_id: spec.status for spec in keep_status_of}
    specs = [
        replace(spec, status=statuses[spec.model_id]) if spec.model_id in statuses else spec
        for spec in (entry.to_spec() for entry in load_catalog())
    ]
    providers = load_providers()
    now = clock.now()
    changed = repo.upsert_models(conn, specs, now=now)
    repo.upsert_providers(conn, providers)
    repo.write_audit(
        conn, actor=actor(), action=action, target="catalog",
        after={"models": [after.model_id for _, after in changed], "providers": sorted(providers)},
        now=now,
    )
    return len(changed)


def validate_capability(name: str) -> str:
    if name not in CAPABILITIES:
        raise InvalidInput(f"unknown capability {name!r}; valid: {', '.join(CAPABILITIES)}")
    return name


def validate_status(name: str) -> str:
    if name not in STATUSES:
        raise InvalidInput(f"unknown status {name!r}; valid: {', '.join(STATUSES)}")
    return name


@dataclass(frozen=True)
class ModelFilter:
    """The original registry's views: /models/stable, /refiners, /capability/{c}, /provider/{p}."""

    status: str | None = None
    provider: str | None = None
    capability: str | None = None
    refiners: bool = False
    unpriced: bool = False

    def keeps(self, spec: ModelSpec) -> bool:
        return (
            (self.status is None or spec.status == self.status)
            and (self.provider is None or spec.provider == self.provider)
            and (self.capability is None or self.capability in spec.capabilities)
            and (not self.refiners or spec.is_refiner)
            and (not self.unpriced or not spec.priced)
        )


def list_models(store: Store, model_filter: ModelFilter = ModelFilter()) -> list[ModelSpec]:
    if model_filter.capability:
        validate_capability(model_filter.capability)
    if model_filter.status:
        validate_status(model_filter.status)
    return [spec for spec in repo.list_models(store) if model_filter.keeps(spec)]


def require_model(store: Store, model_id: str) -> ModelSpec:
    """The model, or NotFound that suggests the closest ids."""
    spec = repo.get_model(store, model_id)
    if spec is not None:
        return spec
    close = closest_names(model_id, repo.model_ids(store))
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `modelctl models list`"
    raise NotFound(f"unknown model {model_id!r}{hint}")


def set_status(store: Store, model_id: str, status: str) -> tuple[ModelSpec, ModelSpec]:
    validate_status(status)
    before = require_model(store, model_id)
    after = replace(before, status=status)
    now = clock.now()
    with store.write() as conn:
        repo.upsert_models(conn, [after], now=now)
        repo.write_audit(conn, actor=actor(), action="set-status", target=model_id,
                         before={"status": before.status}, after={"status": status}, now=now)
    return before, after


@dataclass
class ImportReport:
    created: list[str]
    updated: list[str]
    unchanged: int
    skipped: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "skipped": self.skipped}


def configured_providers() -> list[str]:
    """The providers providers.yaml (the user's, else the bundled one) configures: the only ones
    modelctl can call, so the only ones a catalog model may name."""
    from modelctl.config import load_providers

    return sorted(load_providers())


def _unconfigured(provider: str, configured: Collection[str]) -> str:
    return (f"provider {provider!r} is not configured; configured: {', '.join(configured)} "
            "(add it to providers.yaml in the config directory)")


def read_catalog_file(path: Path, *, fmt: str, skip_invalid: bool,
                      providers: Collection[str]) -> tuple[list[ModelSpec], list[str]]:
    """Parse a catalog file (yaml/json in our schema, or a LiteLLM price map) into specs of the
    configured `providers`.

    All-or-nothing unless `skip_invalid`: then each bad entry is reported and left out. A price
    map's entries for other providers are left out with a reason (the map prices every reseller).
    """
    from pydantic import ValidationError

    from modelctl.config import CatalogModel, format_validation_error, line_of, parse_yaml_text

    text = read_text(path)

    if fmt == "litellm":
        from modelctl.core import pricemap

        raw = pricemap.load_json_map(text, source=str(path))
        specs, skipped = pricemap.specs_from_map(raw, skip_invalid=skip_invalid, source=str(path))
        skipped += [f"{path}: {spec.model_id!r} skipped: {_unconfigured(spec.provider, providers)}"
                    for spec in specs if spec.provider not in providers]
        return [spec for spec in specs if spec.provider in providers], skipped
    if fmt not in ("auto", "yaml", "json"):
        raise InvalidInput(f"unknown format {fmt!r}; valid: auto, yaml, json, litellm")
    # YAML is a superset of JSON, and its node tree gives line numbers for both
    data, node = parse_yaml_text(text, source=str(path))
    entries = data.get("models") if isinstance(data, dict) else data
    entries_node = node
    if isinstance(data, dict) and node is not None:
        entries_node = next((v for k, v in node.value if k.value == "models"), None)
    if not isinstance(entries, list):
        raise InvalidInput(f"{path}: expected a list of models (or a `models:` list)")
    specs, skipped = [], []
    for index, entry in enumerate(entries):
        sub = entries_node.value[index] if entries_node is not None else None
        try:
            spec = CatalogModel.model_validate(entry).to_spec(source="import")
        except ValidationError as exc:
            message = format_validation_error(exc, source=str(path), node=sub)
        else:
            if spec.provider in providers:
                specs.append(spec)
                continue
            at = line_of(sub, ("provider",))
            message = f"{path}{f':{at}' if at else ''}: provider: {_unconfigured(spec.provider, providers)}"
        if not skip_invalid:
            raise InvalidInput(message) from None
        skipped.append(message)
    return specs, skipped


def import_models(store: Store, path: Path, *, fmt: str = "auto", skip_invalid: bool = False,
                  dry_run: bool = False) -> ImportReport:
    specs, skipped = read_catalog_file(path, fmt=fmt, skip_invalid=skip_invalid, providers=configured_providers())
    current = {spec.model_id: spec for spec in repo.list_models(store)}
    # an import updates facts; the lifecycle status of a known model is the store's to decide
    specs = [replace(s, status=current[s.model_id].status, source=current[s.model_id].source)
             if s.model_id in current else s for s in specs]
    created = [s.model_id for s in specs if s.model_id not in current]
    updated = [s.model_id for s in specs if s.model_id in current and current[s.model_id] != s]
    report = ImportReport(created, updated, len(specs) - len(created) - len(updated), skipped)
    if dry_run or not (created or updated):
        return report
    now = clock.now()
    with store.write() as conn:
        changed = repo.upsert_models(conn, specs, now=now)
        repo.write_audit(
            conn, actor=actor(), action="import", target=str(path),
            before={b.model_id: spec_to_json(b) for b, _ in changed if b is not None},
            after={"created": created, "updated": updated, "skipped": len(skipped)},
            now=now,
        )
    return report


def model_report(store: Store, model_id: str) -> dict[str, Any]:
    """Catalog facts, and each performance prior beside what recorded usage measured."""
    from modelctl.store.usage import model_measurements

    spec = require_model(store, model_id)
    measured = model_measurements(store, model_id)
    return {
        "model": spec_to_json(spec),
        "measured_calls": measured["calls"],
        "performance": {
            "avg_ttft_ms": {"prior": spec.avg_ttft_ms, "measured": measured["p50_ttft_ms"]},
            "avg_completion_ms": {"prior": spec.avg_completion_ms, "measured": measured["mean_latency_ms"]},
            "p95_latency_ms": {"prior": None, "measured": measured["p95_latency_ms"]},
            "success_rate": {"prior": spec.success_rate, "measured": measured["success_rate"]},
            "quality_score": {"prior": spec.quality_score, "measured": measured["mean_quality"]},
            "cost_usd": {"prior": None, "measured": measured["cost_usd"]},
        },
    }
