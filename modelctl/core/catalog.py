"""The catalog's vocabulary and the plain record the pure core decides on.

`ModelSpec` is what routing, cost math and gates see of a model: no ORM, no I/O. The store and
the config loader both produce it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

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
ARMS = ("control", "shadow", "canary", "rescue", "judge")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    model_id: str
    provider: str
    family: str = ""
    version: str = ""
    status: str = "stable"
    capabilities: frozenset[str] = field(default_factory=frozenset)
    max_context_tokens: int | None = None
    max_output_tokens: int | None = None
    # USD (or `currency`) per 1,000 tokens; None means unpriced, never silently zero.
    input_cost_per_1k: float | None = None
    output_cost_per_1k: float | None = None
    currency: str = "USD"
    avg_ttft_ms: float | None = None
    avg_completion_ms: float | None = None
    success_rate: float | None = None
    quality_score: float | None = None
    is_refiner: bool = False
    source: str = "config"
    deprecation_date: date | None = None
    successor: str | None = None

    @property
    def priced(self) -> bool:
        return self.input_cost_per_1k is not None and self.output_cost_per_1k is not None

    def cost_usd(self, tokens_in: int, tokens_out: int) -> float | None:
        """Cost of one call from catalog prices; None when the model is unpriced."""
        if not self.priced:
            return None
        return (tokens_in * self.input_cost_per_1k + tokens_out * self.output_cost_per_1k) / 1000.0
