"""Typed configuration: the YAML files in config/ parsed once into pydantic models.

Bundled defaults ship inside the package; a file of the same name in the user's config directory
(`$MODELCTL_CONFIG_DIR`, else `<home>/config`) replaces the bundled one. Every problem is reported
as `file:line: field: message`, one line each, so a user can fix a file without guessing.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, get_type_hints

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from modelctl.core.catalog import CAPABILITIES, QUERY_TYPES, ModelSpec
from modelctl.errors import ConfigError, InvalidInput
from modelctl.files import read_text
from modelctl.paths import config_path
from modelctl.providers.base import ProviderSettings
from modelctl.providers.registry import kind_names

if TYPE_CHECKING:  # built on demand: their cores load only for the commands that use them
    from modelctl.core.discovery import StabilityRules
    from modelctl.core.rollout import RolloutConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- catalog (models.yaml)


# How models.yaml (and the API) spell a ModelSpec, in the original registry's shape: these fields
# sit in a group, under their name there (group -> {name in the file: ModelSpec field}); every
# other field sits at the top level under its own name, except `source`, which the loader sets.
CATALOG_GROUPS: dict[str, dict[str, str]] = {
    "performance": {"avg_ttft_ms": "avg_ttft_ms", "avg_completion_ms": "avg_completion_ms",
                    "success_rate": "success_rate", "quality_score": "quality_score"},
    "costs": {"input_tokens_per_1k": "input_cost_per_1k", "output_tokens_per_1k": "output_cost_per_1k",
              "currency": "currency"},
    "limits": {"max_context_tokens": "max_context_tokens", "max_output_tokens": "max_output_tokens"},
}
_SET_BY_LOADER = frozenset({"source"})
# The file writes capabilities as a map of flags (or a list), and an entry without them generates text.
_CAPABILITIES_FIELD = (dict[str, bool], Field(default_factory=lambda: {"text_generation": True}))


def _from_spec_field(spec_field: dataclasses.Field, kind: Any) -> tuple[Any, Any]:
    """A ModelSpec field as pydantic declares it: its type (`choices` make it a Literal), default and rules."""
    rules = dict(spec_field.metadata)
    choices = rules.pop("choices", None)
    default = ... if spec_field.default is dataclasses.MISSING else spec_field.default
    return (Literal[choices] if choices else kind), Field(default, **rules)


class _CatalogEntry(_Strict):
    """What a catalog entry does besides holding ModelSpec's fields: read the file's spellings, and
    convert to and from ModelSpec."""

    if TYPE_CHECKING:  # generated from ModelSpec by _catalog_model, like the other fields
        capabilities: dict[str, bool]

    @field_validator("capabilities", mode="before", check_fields=False)
    @classmethod
    def _known_capabilities(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            value = dict.fromkeys(value, True)
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(CAPABILITIES))
            if unknown:
                raise ValueError(
                    f"unknown capability {', '.join(map(str, unknown))}; valid: {', '.join(CAPABILITIES)}"
                )
        return value

    @field_validator("version", "family", mode="before", check_fields=False)
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if value is None else str(value)

    def to_spec(self, *, source: str = "config") -> ModelSpec:
        values = {name: getattr(self, name) for name in type(self).model_fields if name not in CATALOG_GROUPS}
        for group, members in CATALOG_GROUPS.items():
            part = getattr(self, group)
            values.update({spec_name: getattr(part, name) for name, spec_name in members.items()})
        values["capabilities"] = frozenset(name for name, on in self.capabilities.items() if on)
        return ModelSpec(**values, source=source)

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> Self:
        values: dict[str, Any] = {name: getattr(spec, name) for name in cls.model_fields if name not in CATALOG_GROUPS}
        values["capabilities"] = {name: name in spec.capabilities for name in CAPABILITIES}
        for group, members in CATALOG_GROUPS.items():
            values[group] = {name: getattr(spec, spec_name) for name, spec_name in members.items()}
        return cls(**values)


def _catalog_model() -> type[_CatalogEntry]:
    """CatalogModel and its groups (Performance, Costs, Limits), generated from ModelSpec's fields."""
    kinds = get_type_hints(ModelSpec)
    spec_fields = {spec_field.name: spec_field for spec_field in dataclasses.fields(ModelSpec)}
    in_group = {spec_name for members in CATALOG_GROUPS.values() for spec_name in members.values()}
    groups: dict[str, type[_Strict]] = {}
    for group, members in CATALOG_GROUPS.items():
        group_fields: dict[str, Any] = {
            name: _from_spec_field(spec_fields[spec_name], kinds[spec_name]) for name, spec_name in members.items()
        }
        groups[group] = create_model(group.capitalize(), __base__=_Strict, __module__=__name__, **group_fields)
    top: dict[str, Any] = {}
    for name, spec_field in spec_fields.items():
        if name in _SET_BY_LOADER:
            continue
        if name in in_group:  # the groups, in the file's order, take the place of the first grouped field
            top.update({group: (model, model()) for group, model in groups.items() if group not in top})
        elif name == "capabilities":
            top[name] = _CAPABILITIES_FIELD
        else:
            top[name] = _from_spec_field(spec_field, kinds[name])
    return create_model("CatalogModel", __base__=_CatalogEntry, __module__=__name__,
                        __doc__="One catalog entry in the original registry's schema.", **top)


if TYPE_CHECKING:  # mypy cannot see a generated class's fields; it checks entries as the class they derive from
    CatalogModel = _CatalogEntry
else:
    CatalogModel = _catalog_model()


class CatalogFile(_Strict):
    models: list[CatalogModel]


# ---------------------------------------------------------------- providers.yaml


class ProviderConfig(_Strict):
    """One providers.yaml entry; what its kind implies (key, URLs) is asked of `settings(name)`."""

    kind: str
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    base_url_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    list_url: str | None = None

    @field_validator("kind")
    @classmethod
    def _registered_kind(cls, value: str) -> str:
        if value not in kind_names():
            raise ValueError(f"unknown kind {value!r}; expected one of {', '.join(kind_names())}")
        return value

    def settings(self, name: str) -> ProviderSettings:
        """The entry as the providers' settings, which answer every key and URL question."""
        return ProviderSettings.from_config(name, self.model_dump())


class HealthConfig(_Strict):
    """When a failing model or provider is skipped, and for how long (shared through the database)."""

    failure_threshold: int = Field(default=3, ge=1, le=100)
    model_cooldown_seconds: float = Field(default=300, gt=0, le=86_400)
    rate_limit_cooldown_seconds: float = Field(default=60, gt=0, le=86_400)
    provider_cooldown_seconds: float = Field(default=300, gt=0, le=86_400)


class ProvidersFile(_Strict):
    providers: dict[str, ProviderConfig]
    health: HealthConfig = HealthConfig()


# ---------------------------------------------------------------- policy.yaml


class SegmentConfig(_Strict):
    chain: list[str] = Field(min_length=1)
    budget_seconds: float | None = Field(default=None, gt=0, le=600)
    objective: Literal["policy", "cost", "quality", "value"] = "policy"
    min_quality_ratio: float | None = Field(default=None, gt=0, le=1)
    cost_weight: float | None = Field(default=None, ge=0)
    fallback_to_capable: bool = False


class RefinementConfig(_Strict):
    chain: list[str] = Field(min_length=1)
    budget_ms: int = Field(default=500, gt=0)
    p95_budget_ms: int = Field(default=800, gt=0)


class PolicyFile(_Strict):
    max_query_chars: int = Field(default=100_000, gt=0)
    min_quality_ratio: float = Field(default=0.95, gt=0, le=1)
    cost_weight: float = Field(default=0.15, ge=0)
    segments: dict[str, SegmentConfig]
    refinement: dict[Literal["fast", "quality", "lmm"], RefinementConfig] = Field(default_factory=dict)

    @field_validator("segments")
    @classmethod
    def _query_types_covered(cls, value: dict[str, SegmentConfig]) -> dict[str, SegmentConfig]:
        missing = [name for name in QUERY_TYPES if name not in value]
        if missing:
            raise ValueError(f"every query type needs a segment; missing: {', '.join(missing)}")
        return value


# ---------------------------------------------------------------- loading


def parse_yaml_text(text: str, *, source: str) -> tuple[Any, yaml.Node | None]:
    """Safe-load YAML and keep the node tree so validation errors can name a line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInput(f"{source}{line}: not valid YAML: {problem}") from None
    except RecursionError:
        raise InvalidInput(f"{source}: not valid YAML: nested too deeply") from None
    return data, node


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location, as deep as it resolves."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(key)), None)
            if match is None:
                match = next((k for k, v in node.value if k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            match = node.value[key]
        else:
            match = None
        if match is None:
            break
        node, line = match, match.start_mark.line + 1
    return line


def format_validation_error(exc: ValidationError, *, source: str, node: yaml.Node | None = None,
                            line: int | None = None) -> str:
    """One `file:line: field: message` line per problem."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        at = line if line is not None else line_of(node, loc)
        field = ".".join(str(part) for part in loc) or "(top level)"
        where = f"{source}:{at}" if at else source
        problems.append(f"{where}: {field}: {err['msg']}")
    return "\n".join(problems)


_Model = TypeVar("_Model", bound=BaseModel)


def load_yaml_model(path: Path, model: type[_Model]) -> _Model:
    text = read_text(path, error=ConfigError)
    data, node = parse_yaml_text(text, source=str(path))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source=str(path), node=node)) from None


def load_catalog(path: Path | None = None) -> list[CatalogModel]:
    return load_yaml_model(path or config_path("models.yaml"), CatalogFile).models


def load_providers(path: Path | None = None) -> dict[str, ProviderConfig]:
    return load_yaml_model(path or config_path("providers.yaml"), ProvidersFile).providers


def load_health(path: Path | None = None) -> HealthConfig:
    return load_yaml_model(path or config_path("providers.yaml"), ProvidersFile).health


def load_policy(path: Path | None = None) -> PolicyFile:
    return load_yaml_model(path or config_path("policy.yaml"), PolicyFile)


# ---------------------------------------------------------------- upgrade.yaml


class PhaseSettings(_Strict):
    traffic_pct: float = Field(gt=0, le=100)
    min_hours: float = Field(default=0, ge=0)
    max_hours: float = Field(default=0, ge=0)
    min_samples: int = Field(default=0, ge=0)
    alpha: float | None = Field(default=None, gt=0, lt=0.5)  # pass level here; None: gates.alpha
    on_max: Literal["advance", "reject", "hold"] | None = None  # None: the file's on_timeout

    @field_validator("max_hours")
    @classmethod
    def _max_after_min(cls, value: float, info: Any) -> float:
        if value < info.data.get("min_hours", 0):
            raise ValueError(f"must be at least min_hours ({info.data['min_hours']:g})")
        return value


class GateSettings(_Strict):
    """The gates' levels and tolerances: the one place their defaults are defined (core.gates has none).

    Tolerances must be positive: the sequential tests aim at them (see core.gates)."""

    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    fail_alpha: float = Field(default=0.001, gt=0, lt=0.5)
    success_margin: float = Field(default=0.01, gt=0, lt=1)
    latency_p95_max_ratio: float = Field(default=1.2, gt=1)
    cost_max_ratio: float = Field(default=1.2, gt=1)
    quality_margin: float = Field(default=0.02, gt=0, lt=1)
    min_samples: int = Field(default=20, ge=1)


class UpgradeFile(_Strict):
    """Rollout phases and gates; `latency_sample` caps the latencies read per arm per evaluation."""

    on_timeout: Literal["reject", "hold"] = "reject"
    phases: dict[Literal["shadow", "canary", "full"], PhaseSettings]
    gates: GateSettings = GateSettings()
    latency_sample: int = Field(default=20_000, ge=100)
    notify: NotifySettings = Field(default_factory=lambda: NotifySettings())  # defined below
    autopilot: AutopilotSettings = Field(default_factory=lambda: AutopilotSettings())  # defined below
    judge: JudgeSettings | None = None  # defined below; no judge, no judging
    require_offline_eval: bool = False

    @field_validator("phases")
    @classmethod
    def _all_phases(cls, value: dict[str, PhaseSettings]) -> dict[str, PhaseSettings]:
        missing = [name for name in ("shadow", "canary", "full") if name not in value]
        if missing:
            raise ValueError(f"every phase needs settings; missing: {', '.join(missing)}")
        return value

    def rollout_config(self) -> RolloutConfig:
        from datetime import timedelta

        from modelctl.core.gates import GateConfig
        from modelctl.core.rollout import PhaseConfig, RolloutConfig

        return RolloutConfig(
            phases={
                name: PhaseConfig(p.traffic_pct, timedelta(hours=p.min_hours), timedelta(hours=p.max_hours),
                                  p.min_samples, p.alpha, p.on_max)
                for name, p in self.phases.items()
            },
            on_timeout=self.on_timeout,
            gates=GateConfig(**self.gates.model_dump()),
        )


def load_upgrade(path: Path | None = None) -> UpgradeFile:
    return load_yaml_model(path or config_path("upgrade.yaml"), UpgradeFile)


class NotifySettings(_Strict):
    """Where rollout events are posted (services/notify.py); no URL, no notifications.

    The env var named by `webhook_url_env` wins over `webhook_url`: a Slack webhook URL is itself a
    credential, better kept out of files. `max_seconds` caps all notifications of one command together
    (every attempt and wait; services.upgrade.announce).
    """

    webhook_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    webhook_url_env: str = Field(default="MODELCTL_WEBHOOK_URL", pattern=r"^[A-Z_][A-Z0-9_]*$")
    max_seconds: float = Field(default=3.0, gt=0, le=30)

    def resolved_url(self) -> str | None:
        return os.environ.get(self.webhook_url_env) or self.webhook_url


class AutopilotSettings(_Strict):
    """What `upgrade tick` may start by itself (services/autopilot.py); off unless `enabled`.

    A candidate must pass `eval_suite` (a file, or NAME for config/eval/NAME.yaml) offline first;
    at most `max_active_rollouts` rollouts run at once; a chain model retiring within
    `retirement_horizon_days` gets a rollout of its catalog successor.
    """

    enabled: bool = False
    max_active_rollouts: int = Field(default=2, ge=1)
    price_ratio_max: float = Field(default=1.0, gt=0)
    retirement_horizon_days: int = Field(default=30, ge=0)
    eval_suite: str = Field(default="smoke", min_length=1)


class JudgeSettings(_Strict):
    """The model that judges rollouts' answers (services/judge.py), how much of the traffic, and its cap.

    `shadow_share` of shadow requests get the incumbent's and the candidate's answers compared;
    `canary_share` of canary and control answers get a 0..1 score. `margin` is the shadow quality
    gate's tolerance on the candidate's loss rate minus its win rate. Nothing is judged once the
    day's judge calls have cost `daily_budget_usd`.
    """

    model: str = Field(min_length=1)
    shadow_share: float = Field(default=0.5, ge=0, le=1)
    canary_share: float = Field(default=0.25, ge=0, le=1)
    daily_budget_usd: float = Field(default=5.0, ge=0)
    margin: float = Field(default=0.05, gt=0, lt=1)
    timeout_s: float = Field(default=30.0, gt=0, le=600)


# ---------------------------------------------------------------- discovery.yaml


class StabilityRulesConfig(_Strict):
    """Regexes that replace core.discovery's defaults for one group; an omitted group keeps them."""

    preview: list[str] | None = None
    alias: list[str] | None = None
    pinned: list[str] | None = None

    @field_validator("preview", "alias", "pinned")
    @classmethod
    def _valid_regexes(cls, value: list[str] | None) -> list[str] | None:
        import re

        for pattern in value or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regex: {exc}") from None
        return value

    def rules(self) -> StabilityRules:
        from modelctl.core.discovery import DEFAULT_RULES, StabilityRules

        return StabilityRules(
            preview=tuple(self.preview) if self.preview is not None else DEFAULT_RULES.preview,
            alias=tuple(self.alias) if self.alias is not None else DEFAULT_RULES.alias,
            pinned=tuple(self.pinned) if self.pinned is not None else DEFAULT_RULES.pinned,
        )


class DiscoveryFile(_Strict):
    """`modelctl discover`: how long to wait, how many models to read, where prices come from."""

    timeout_s: float = Field(default=30, gt=0, le=600)
    limit: int = Field(default=1000, gt=0, le=100_000)
    limits: dict[str, int] = Field(default_factory=dict)
    price_map: str | None = None
    stability: StabilityRulesConfig = StabilityRulesConfig()

    @field_validator("limits")
    @classmethod
    def _positive_limits(cls, value: dict[str, int]) -> dict[str, int]:
        bad = sorted(name for name, limit in value.items() if limit <= 0)
        if bad:
            raise ValueError(f"limits must be positive; check {', '.join(bad)}")
        return value

    def limit_for(self, provider: str) -> int:
        return self.limits.get(provider, self.limit)


def load_discovery(path: Path | None = None) -> DiscoveryFile:
    return load_yaml_model(path or config_path("discovery.yaml"), DiscoveryFile)


# ---------------------------------------------------------------- config/eval/NAME.yaml (`modelctl evaluate`)

# The JSON-schema keywords `evaluate` checks; any other keyword would be silently ignored, so it is refused.
JSON_SCHEMA_KEYWORDS = frozenset({"type", "required", "properties", "enum"})
JSON_SCHEMA_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
EVAL_CHECK_KINDS = ("contains", "regex", "exact", "json_schema")


def _check_json_schema(schema: Any, where: str = "json_schema") -> None:
    if not isinstance(schema, dict):
        raise ValueError(f"{where} must be a mapping")
    unknown = sorted(set(schema) - JSON_SCHEMA_KEYWORDS)
    if unknown:
        raise ValueError(f"{where}: unsupported keyword {unknown[0]!r}; supported: "
                         f"{', '.join(sorted(JSON_SCHEMA_KEYWORDS))}")
    kinds = schema.get("type", [])
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        if kind not in JSON_SCHEMA_TYPES:
            raise ValueError(f"{where}.type: unknown type {kind!r}; valid: {', '.join(sorted(JSON_SCHEMA_TYPES))}")
    if not all(isinstance(name, str) for name in schema.get("required", [])):
        raise ValueError(f"{where}.required must be a list of property names")
    if "enum" in schema and not isinstance(schema["enum"], list):
        raise ValueError(f"{where}.enum must be a list")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ValueError(f"{where}.properties must be a mapping")
    for name, sub in properties.items():
        _check_json_schema(sub, f"{where}.properties.{name}")


class EvalCheck(_Strict):
    """Exactly one test of an answer: `contains` (case-insensitive), `regex` (re.search), `exact`
    (the whole answer, surrounding whitespace aside) or `json_schema` (the answer parses as JSON
    and fits the schema's type / required / properties / enum)."""

    contains: str | None = Field(default=None, min_length=1)
    regex: str | None = Field(default=None, min_length=1)
    exact: str | None = None
    json_schema: dict[str, Any] | None = None

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        import re

        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a valid regex: {exc}") from None
        return value

    @field_validator("json_schema")
    @classmethod
    def _supported_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _check_json_schema(value)
        return value

    @model_validator(mode="after")
    def _one_test(self) -> EvalCheck:
        given = [name for name in EVAL_CHECK_KINDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a check has exactly one of {', '.join(EVAL_CHECK_KINDS)}; got {len(given)}")
        return self

    @property
    def kind(self) -> str:
        return next(name for name in EVAL_CHECK_KINDS if getattr(self, name) is not None)


class EvalCase(_Strict):
    id: str = Field(min_length=1, max_length=200)
    prompt: str = Field(min_length=1)
    segment: str | None = Field(default=None, min_length=1, max_length=200)
    checks: list[EvalCheck] = Field(min_length=1)


class EvalSuite(BaseModel):
    """A suite file is a YAML list of cases; case ids are unique so results can be compared."""

    model_config = ConfigDict(frozen=True)

    cases: list[EvalCase] = Field(min_length=1)

    @field_validator("cases")
    @classmethod
    def _unique_ids(cls, value: list[EvalCase]) -> list[EvalCase]:
        seen: set[str] = set()
        for case in value:
            if case.id in seen:
                raise ValueError(f"case id {case.id!r} appears twice; ids must be unique")
            seen.add(case.id)
        return value


def load_eval_suite(path: Path) -> EvalSuite:
    """Errors as `file:line: field: message`; the list is validated as the suite's `cases`."""
    text = read_text(path, error=InvalidInput)
    data, node = parse_yaml_text(text, source=str(path))
    try:
        return EvalSuite.model_validate({"cases": data})
    except ValidationError as exc:
        # locations start with "cases", which the file does not spell: resolve them from the list itself
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])[1:]
            at = line_of(node, loc)
            field = ".".join(str(part) for part in loc) or "(top level)"
            problems.append(f"{path}:{at}: {field}: {err['msg']}" if at else f"{path}: {field}: {err['msg']}")
        raise InvalidInput("\n".join(problems)) from None
