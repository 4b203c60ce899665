"""The catalog's vocabulary and the plain record the pure core decides on.

`ModelSpec` is what routing, cost math and gates see of a model: no ORM, no I/O. The store and
the config loader both produce it, from tables and models generated from its fields.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field
from datetime import date
from typing import Any, Literal, get_args

CAPABILITIES = (
    "text_generation",
    "multimodal",
    "tool_use",
    "long_context",
    "streaming",
    "function_calling",
    "fast_inference",
)
STATUSES = ("candidate", "stable", "deprecated", "disabled", "retired")
SOURCES = ("config", "discovered", "import")
QUERY_TYPES = ("simple", "technical", "research", "multimedia")
# control: the incumbent serving; canary: the candidate serving; shadow: the candidate answering a
# copy, discarded; rescue: a model asked after a failed canary call; judge: a judge model's call.
Arm = Literal["control", "shadow", "canary", "rescue", "judge"]
ARMS: tuple[Arm, ...] = get_args(Arm)


def _rules(default: Any = MISSING, **rules: Any) -> Any:
    """A ModelSpec field with the rules every copy of the schema takes from it (`ge`, `gt`, `le`,
    `min_length`, `max_length`, `choices`): models.yaml's checks and the store's column sizes."""
    return field(default=default, metadata=rules)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """The catalog model, defined here once: config.CatalogModel (models.yaml, the API's schema) and
    store.tables.ModelRow (the `model` table) are generated from these fields, types and rules."""

    model_id: str = _rules(min_length=1, max_length=200)
    provider: str = _rules(min_length=1, max_length=100)
    family: str = ""
    version: str = ""
    status: str = _rules("stable", choices=STATUSES)
    capabilities: frozenset[str] = field(default_factory=frozenset)
    max_context_tokens: int | None = _rules(None, gt=0)
    max_output_tokens: int | None = _rules(None, gt=0)
    # USD (or `currency`) per 1,000 tokens; None means unpriced, never silently zero.
    input_cost_per_1k: float | None = _rules(None, ge=0)
    output_cost_per_1k: float | None = _rules(None, ge=0)
    currency: str = "USD"
    avg_ttft_ms: float | None = _rules(None, ge=0)
    avg_completion_ms: float | None = _rules(None, ge=0)
    success_rate: float | None = _rules(None, ge=0, le=1)
    quality_score: float | None = _rules(None, ge=0, le=1)
    is_refiner: bool = False
    source: str = "config"
    deprecation_date: date | None = None
    successor: str | None = None

    @property
    def priced(self) -> bool:
        return self.input_cost_per_1k is not None and self.output_cost_per_1k is not None

    def cost_usd(self, tokens_in: int, tokens_out: int) -> float | None:
        """Cost of one call from catalog prices; None when the model is unpriced."""
        input_cost, output_cost = self.input_cost_per_1k, self.output_cost_per_1k
        if input_cost is None or output_cost is None:
            return None
        return (tokens_in * input_cost + tokens_out * output_cost) / 1000.0
