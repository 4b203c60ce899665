"""Imported scores: scored outcomes (0..1) per model and segment, the evidence behind learned
routing quality, and the quality table the router derives from them. (Running an evaluation suite
that produces scores is services/offline_eval.py.)"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from modelctl import clock
from modelctl.errors import InvalidInput, shown
from modelctl.paths import actor
from modelctl.services.jsonl import iter_json_lines, open_input
from modelctl.store import catalog as catalog_repo
from modelctl.store.db import Store, sql_ts
from modelctl.store.scores import content_key, explicit_key, insert_scores, record_content, score_totals

_FIELDS = ("model_id", "segment", "score", "cost_usd", "latency_ms", "id")
_ROW_COLUMNS = ("model_id", "segment", "score", "cost_usd", "latency_ms", "record_key")
MAX_REPORTED_ERRORS = 20
MAX_ID_CHARS = 200


def _score_row(data: Any, known: set[str], where: str) -> tuple[tuple, str | None]:
    """(model_id, segment, score, cost_usd, latency_ms) of a valid record, and its id if it gives
    one; InvalidInput naming `where` (file:line) and the field otherwise."""

    def invalid(name: str, problem: str) -> InvalidInput:
        return InvalidInput(f"{where}: {name}: {problem}")

    if not isinstance(data, dict):
        raise invalid("(record)", "must be a JSON object")
    unknown = sorted(data.keys() - set(_FIELDS))
    if unknown:
        raise invalid(shown(unknown[0]), f"unknown field; valid: {', '.join(_FIELDS)}")
    model_id, segment = data.get("model_id"), data.get("segment")
    for name, value in (("model_id", model_id), ("segment", segment)):
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise invalid(name, "required, a non-empty string of at most 200 characters")
    if model_id not in known:
        raise invalid("model_id", f"unknown model {model_id!r}")
    numbers: list[float | None] = []
    for name, upper, required in (("score", 1.0, True), ("cost_usd", None, False), ("latency_ms", None, False)):
        value = data.get(name)
        if value is None:
            if required:
                raise invalid(name, "is required")
            numbers.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise invalid(name, f"must be a number >= 0, got {value!r}")
        if upper is not None and value > upper:
            raise invalid(name, f"must be at most {upper}, got {value!r}")
        numbers.append(float(value))
    record_id = data.get("id")
    if record_id is not None and (isinstance(record_id, bool) or not isinstance(record_id, (str, int))
                                  or not str(record_id).strip() or len(str(record_id)) > MAX_ID_CHARS):
        raise invalid("id", f"a non-empty string or an integer of at most {MAX_ID_CHARS} characters")
    return (model_id, segment, *numbers), None if record_id is None else str(record_id)


class _RecordKeys:
    """The key of each record of one input: its id, else its content and its occurrence number
    among identical records (so 30 identical lines stay 30 scores, and import again as none)."""

    def __init__(self) -> None:
        self._seen: dict[bytes, int] = {}

    def key(self, row: tuple, record_id: str | None) -> str:
        if record_id is not None:
            return explicit_key(record_id)
        content = record_content(*row)
        occurrence = self._seen[content] = self._seen.get(content, 0) + 1
        return content_key(content, occurrence)


@dataclass
class EvalImportReport:
    imported: int = 0
    already_imported: int = 0
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "already_imported": self.already_imported,
                "skipped": len(self.skipped), "skipped_lines": self.skipped[:MAX_REPORTED_ERRORS]}

    def summary(self) -> str:
        return (f"imported {self.imported:,} new scores, {self.already_imported:,} already imported "
                f"({len(self.skipped):,} skipped)")


def import_scores(store: Store, path: str, *, source: str = "import", skip_invalid: bool = False) -> EvalImportReport:
    """All-or-nothing unless `skip_invalid`: the whole file is checked before anything is written.

    Idempotent: a record whose key (its `id`, or its content and occurrence) was imported before
    is counted as already imported, not stored again.
    """
    known = set(catalog_repo.model_ids(store))
    report = EvalImportReport()
    keys = _RecordKeys()
    rows = []
    with open_input(path) as (stream, name):
        for number, data, error in iter_json_lines(stream, name):
            if error is None:
                try:
                    row, record_id = _score_row(data, known, f"{name}:{number}")
                    rows.append((*row, keys.key(row, record_id)))
                    continue
                except InvalidInput as exc:  # collected: the report names every bad line, up to a limit
                    error = str(exc)
            report.skipped.append(error)
            if not skip_invalid and len(report.skipped) >= MAX_REPORTED_ERRORS:
                break
    if report.skipped and not skip_invalid:
        raise InvalidInput("\n".join(report.skipped)
                           + "\nnothing was imported; fix the lines above or pass --skip-invalid")
    now = sql_ts(clock.now())
    with store.write() as conn:
        report.imported = insert_scores(conn, [dict(zip(_ROW_COLUMNS, row, strict=True), ts=now, source=source)
                                               for row in rows])
        report.already_imported = len(rows) - report.imported
        catalog_repo.write_audit(conn, actor=actor(), action="eval-import", target=path,
                                 after={"scores": report.imported, "already_imported": report.already_imported,
                                        "skipped": len(report.skipped)}, now=clock.now())
    return report


def quality_table(store: Store) -> list[dict[str, Any]]:
    """Per (segment, model): the learned estimate the router uses."""
    from modelctl.core.quality import estimate

    out = []
    for segment, model_id, s, sq, n, cost in score_totals(store):
        q = estimate(s, sq, n)
        out.append({"segment": segment, "model_id": model_id, "n": n, "mean": round(q.mean, 4),
                    "lcb": round(q.lcb, 4), "mean_cost_usd": cost})
    return out
