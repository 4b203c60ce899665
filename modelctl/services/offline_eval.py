"""`modelctl evaluate`: an offline check before shadow, a suite of prompts with checks sent to a
candidate and its incumbent.

Every call goes through run's `answer_down_chain` for exactly the model named (not the router's
choice), so it is budgeted, recorded as usage and updates health as `modelctl run` does; its usage rows carry the
segment `evaluate:<suite>`, so they never enter a rollout's gate window. Each answer scores the
fraction of its checks that pass (averaged with a judge's 0..10 grade over 10 when `--judge` is
given), and the scores are stored as evaluation scores with source `evaluate:<suite>`, the evidence
learned routing reads. The verdict comes from a paired non-inferiority test on the per-case
differences (`paired_test`), never from the mean alone, and is stored for `promote` to show (and,
with `require_offline_eval`, to require). The judge is never the candidate or an incumbent.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

from modelctl import clock
from modelctl.core.catalog import ModelSpec
from modelctl.errors import AllModelsFailed, InvalidInput
from modelctl.paths import actor, config_path
from modelctl.providers.base import ProviderSettings
from modelctl.store.db import Store, sql_ts

# The candidate is "not worse" when its mean paired difference is shown, at ALPHA one-sided, to be
# above minus this margin; "worse" when it is shown to be below it; else "inconclusive".
MARGIN = 0.05
ALPHA = 0.05
_FENCE = re.compile(r"^```[a-zA-Z]*\n(.*)\n```$", re.DOTALL)

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- one call to one model


@dataclass(frozen=True)
class Answer:
    model_id: str
    text: str | None  # None when the call failed
    latency_ms: float
    cost_usd: float | None
    error: str | None = None


class _CallContext(TypedDict):
    """What every call of one evaluation shares (call_model's keyword arguments)."""

    models: Mapping[str, ModelSpec]
    providers: Mapping[str, ProviderSettings]
    segment: str


def call_model(store: Store, model_id: str, prompt: str, *, models: Mapping[str, ModelSpec],
               providers: Mapping[str, ProviderSettings], budget_s: float, segment: str,
               system: str | None = None, max_tokens: int | None = None) -> Answer:
    """Ask exactly this model, no fallback, within `budget_s`; recorded as `run` records its attempts."""
    from modelctl.core.routing import Decision
    from modelctl.providers.base import ChatRequest
    from modelctl.services.run import answer_down_chain

    spec = models[model_id]
    decision = Decision(
        model_id=model_id, provider=spec.provider, fallback_models=(), confidence=1.0, estimated_cost=None,
        estimated_latency=None, query_type=segment, complexity="simple", budget_seconds=budget_s,
        segment=segment, reason=(),
    )
    request = ChatRequest(model_id=model_id, prompt=prompt, system=system, max_tokens=max_tokens)
    started = time.perf_counter()
    try:
        result = answer_down_chain(store, decision, request, request_id=uuid.uuid4().hex, models=models,
                                   providers=providers, deadline=started + budget_s)
    except AllModelsFailed as exc:
        last = exc.attempts[-1] if exc.attempts else {}
        return Answer(model_id, None, last.get("latency_ms", (time.perf_counter() - started) * 1000), None,
                      last.get("error") or str(exc).splitlines()[0])
    served = result.served
    return Answer(model_id, result.answer, served.latency_ms, served.cost_usd)


def require_keys(model_ids: Sequence[str], *, models: Mapping[str, ModelSpec],
                 providers: Mapping[str, ProviderSettings]) -> None:
    """Refuse up front rather than record a failed call per prompt for a provider we cannot call."""
    problems = []
    for model_id in dict.fromkeys(model_ids):
        settings = providers.get(models[model_id].provider)
        if settings is None:
            problems.append(f"{model_id}: provider {models[model_id].provider} is not in providers.yaml")
        elif settings.key_missing():
            problems.append(f"{model_id}: provider {settings.name} has no API key: set {settings.key_env}")
    if problems:
        raise InvalidInput("\n".join(problems))


# --------------------------------------------------------------------------- checks


def _json_type_ok(value: Any, kind: str) -> bool:
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}[kind]
    return isinstance(value, expected)


def schema_errors(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """What in `value` breaks the schema (the type / required / properties / enum subset)."""
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_json_type_ok(value, kind) for kind in kinds):
            return [f"{path}: expected {' or '.join(kinds)}, got {type(value).__name__}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if isinstance(value, dict):
        errors += [f"{path}: missing {name!r}" for name in schema.get("required", ()) if name not in value]
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                errors += schema_errors(value[name], sub, f"{path}.{name}")
    return errors


def run_check(check: Any, answer: str) -> tuple[bool, str | None]:  # check: config.EvalCheck
    """(passed, why not)."""
    kind = check.kind
    if kind == "contains":
        return (check.contains.casefold() in answer.casefold(), f"does not contain {check.contains!r}")
    if kind == "regex":
        return (re.search(check.regex, answer) is not None, f"does not match /{check.regex}/")
    if kind == "exact":
        return (answer.strip() == check.exact.strip(), f"is not exactly {check.exact!r}")
    fenced = _FENCE.match(answer.strip())
    try:
        value = json.loads(fenced.group(1) if fenced else answer)
    except json.JSONDecodeError:  # a verdict on the answer, not a failure of the run
        return False, "is not JSON"
    errors = schema_errors(value, check.json_schema)
    return not errors, "; ".join(errors[:3])


# --------------------------------------------------------------------------- the suite run


@dataclass
class Outcome:
    """One model's answer to one case, scored."""

    answer: Answer
    checks: list[dict[str, Any]] = field(default_factory=list)
    judge_grade: float | None = None
    judge_error: str | None = None

    @property
    def score(self) -> float | None:
        if self.answer.error is not None:
            return None
        score = sum(c["passed"] for c in self.checks) / len(self.checks)
        return (score + self.judge_grade / 10) / 2 if self.judge_grade is not None else score

    def as_dict(self) -> dict[str, Any]:
        a = self.answer
        return {
            "model_id": a.model_id, "score": None if self.score is None else round(self.score, 4),
            "checks_passed": sum(c["passed"] for c in self.checks), "checks": self.checks,
            "judge_grade": self.judge_grade, "judge_error": self.judge_error,
            "latency_ms": round(a.latency_ms, 1), "cost_usd": a.cost_usd, "error": a.error, "answer": a.text,
        }


@dataclass
class CaseResult:
    id: str
    segment: str
    candidate: Outcome
    incumbent: Outcome

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "segment": self.segment, "candidate": self.candidate.as_dict(),
                "incumbent": self.incumbent.as_dict()}


def _side(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    scores = [o.score for o in outcomes if o.score is not None]
    answered = [o.answer for o in outcomes if o.answer.error is None]
    return {
        "model_ids": sorted({o.answer.model_id for o in outcomes}),
        "answered": len(answered),
        "errors": len(outcomes) - len(answered),
        "mean_score": round(sum(scores) / len(scores), 4) if scores else None,
        "cost_usd": round(sum(a.cost_usd or 0.0 for a in answered), 6),
        "mean_latency_ms": round(sum(a.latency_ms for a in answered) / len(answered), 1) if answered else None,
        "judge_errors": sum(o.judge_error is not None for o in outcomes),
    }


def _sign_test(wins: int, losses: int) -> float | None:
    """Two-sided exact binomial p-value of wins against losses (ties dropped)."""
    n = wins + losses
    if n == 0:
        return None
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return round(min(1.0, 2 * tail), 4)


def paired_test(diffs: Sequence[float], *, margin: float = MARGIN, alpha: float = ALPHA) -> tuple[str, float | None]:
    """(verdict, one-sided p-value) of a paired non-inferiority z-test on candidate - incumbent differences.

    One evaluation is one look, so a fixed-sample test is right here (the rollout gates, looked at
    every tick, are sequential). With no spread at all the difference alone decides, as in the
    gates; with fewer than two pairs nothing is shown.
    """
    n = len(diffs)
    if n < 2:
        return "inconclusive", None
    mean = sum(diffs) / n
    variance = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    se = math.sqrt(variance / n)
    shift = mean + margin
    z = shift / se if se > 0 else (math.inf if shift > 0 else -math.inf)
    p_not_worse = 0.5 * math.erfc(z / math.sqrt(2))
    p_worse = 0.5 * math.erfc(-z / math.sqrt(2))
    if p_not_worse < alpha:
        return "candidate not worse", p_not_worse
    if p_worse < alpha:
        return "candidate worse", p_worse
    return "inconclusive", p_not_worse


def compare(cases: Sequence[CaseResult]) -> dict[str, Any]:
    """A paired comparison per case, decided by `paired_test`; a model that failed to answer scores 0."""
    diffs = [(c.candidate.score or 0.0) - (c.incumbent.score or 0.0) for c in cases]
    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    mean = sum(diffs) / len(diffs)
    verdict, p_value = paired_test(diffs)
    return {
        "pairs": len(diffs), "mean_difference": round(mean, 4), "wins": wins, "losses": losses,
        "ties": len(diffs) - wins - losses, "sign_test_p": _sign_test(wins, losses), "margin": MARGIN,
        "alpha": ALPHA, "p_value": None if p_value is None else float(f"{p_value:.4g}"), "verdict": verdict,
    }


@dataclass
class EvaluateReport:
    suite: str
    path: str
    candidate_id: str
    judge_id: str | None
    cases: list[CaseResult]
    stored: int

    @property
    def source(self) -> str:
        return f"evaluate:{self.suite}"

    def summary(self) -> dict[str, Any]:
        return {
            "candidate": _side([c.candidate for c in self.cases]),
            "incumbent": _side([c.incumbent for c in self.cases]),
            "comparison": compare(self.cases),
        }

    def as_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "path": self.path, "source": self.source, "candidate_id": self.candidate_id,
                "judge_id": self.judge_id, "stored_scores": self.stored,
                "cases": [c.as_dict() for c in self.cases], "summary": self.summary()}


def resolve_suite(suite: str) -> Path:
    """A file path, or a bare NAME for config/eval/NAME.yaml (the user's copy, else the bundled one)."""
    path = Path(suite).expanduser()
    if path.exists() or "/" in suite or path.suffix:
        return path
    return config_path(f"eval/{suite}.yaml")


def evaluate(store: Store, candidate_id: str, *, suite: str, against: str | None = None,
             segment: str | None = None, judge_id: str | None = None,
             progress: Progress | None = None) -> EvaluateReport:
    """Send every case to the candidate and its incumbent, score, store the scores, audit the run."""
    from modelctl.config import load_eval_suite
    from modelctl.core.classify import classify
    from modelctl.services.catalog import require_model
    from modelctl.services.health import provider_settings
    from modelctl.services.routing import load_routing_config
    from modelctl.services.upgrade import _effective_chains, _serving_head
    from modelctl.store import catalog as catalog_repo

    path = resolve_suite(suite)
    cases = load_eval_suite(path).cases
    require_model(store, candidate_id)
    for other in (against, judge_id):
        if other is not None:
            require_model(store, other)
    if against == candidate_id:
        raise InvalidInput("--against names the candidate itself; name another model")
    if judge_id is not None and judge_id in (candidate_id, against):
        role = "candidate" if judge_id == candidate_id else "incumbent"
        raise InvalidInput(f"--judge {judge_id} is the {role}; a model cannot grade its own answers: "
                           "name another --judge")
    config = load_routing_config()
    policies = config["policy"]["segments"]
    providers = provider_settings(config["providers"])
    models = {spec.model_id: spec for spec in catalog_repo.list_models(store)}
    now = clock.now()
    chains = _effective_chains(store) if against is None else {}

    plan = []  # (case, segment, incumbent, budget seconds)
    for case in cases:
        classified = classify(case.prompt)
        seg = case.segment or segment or classified.query_type
        incumbent = against
        if incumbent is None:
            chain = tuple(m for m in chains.get(seg, ()) if m != candidate_id)
            incumbent = _serving_head(chain, models, now=now)
            if incumbent is None:
                raise InvalidInput(f"case {case.id}: segment {seg!r} has no policy chain with a serving model "
                                   "to compare against; name one with --against")
        budget = (policies.get(seg) or {}).get("budget_seconds") or classified.budget_seconds
        if incumbent == judge_id:
            raise InvalidInput(f"--judge {judge_id} is the incumbent of case {case.id} (the head of the "
                               f"{seg} chain); a model cannot grade its own answers: name another --judge")
        plan.append((case, seg, incumbent, float(budget)))
    require_keys([candidate_id, *(p[2] for p in plan), *([judge_id] if judge_id else [])],
                 models=models, providers=providers)

    usage_segment = f"evaluate:{path.stem}"
    call = _CallContext(models=models, providers=providers, segment=usage_segment)
    results = []
    for done, (case, seg, incumbent, budget) in enumerate(plan):
        outcomes = []
        for model_id in (candidate_id, incumbent):
            outcome = Outcome(call_model(store, model_id, case.prompt, budget_s=budget, **call))
            if outcome.answer.text is not None:
                for check in case.checks:
                    passed, why = run_check(check, outcome.answer.text)
                    outcome.checks.append({"check": check.kind, "passed": passed, "why": None if passed else why})
                if judge_id is not None:
                    _judge(store, outcome, case.prompt, judge_id=judge_id, budget_s=budget, call=call)
            outcomes.append(outcome)
        results.append(CaseResult(case.id, seg, *outcomes))
        if progress is not None:
            progress(done + 1, len(plan))

    rows = [
        {"ts": sql_ts(now), "model_id": o.answer.model_id, "segment": r.segment, "score": o.score,
         "cost_usd": o.answer.cost_usd, "latency_ms": o.answer.latency_ms, "source": f"evaluate:{path.stem}"}
        for r in results for o in (r.candidate, r.incumbent) if o.score is not None
    ]
    report = EvaluateReport(path.stem, str(path), candidate_id, judge_id, results, len(rows))
    _store(store, report, rows, now=now)
    return report


def _judge(store: Store, outcome: Outcome, prompt: str, *, judge_id: str, budget_s: float,
           call: _CallContext) -> None:
    from modelctl.services.judge import GRADE_PROMPT, GRADE_SYSTEM, parse_grade

    graded = call_model(store, judge_id, GRADE_PROMPT.format(prompt=prompt, answer=outcome.answer.text),
                        system=GRADE_SYSTEM, budget_s=budget_s, **call)
    if graded.error is not None or graded.text is None:
        outcome.judge_error = f"judge {judge_id} failed: {graded.error or 'no answer'}"
        return
    outcome.judge_grade = parse_grade(graded.text)
    if outcome.judge_grade is None:
        shown = graded.text.strip().replace("\n", " ")
        outcome.judge_error = f"judge {judge_id} gave no 0..10 grade: {shown[:80]!r}"


def _store(store: Store, report: EvaluateReport, rows: list[dict[str, Any]], *, now: datetime) -> None:
    from modelctl.store.catalog import write_audit
    from modelctl.store.judge import OfflineEvaluation, insert_offline_evaluation
    from modelctl.store.scores import insert_scores

    summary = report.summary()
    comparison = summary["comparison"]
    with store.write() as conn:
        insert_scores(conn, rows)
        insert_offline_evaluation(conn, OfflineEvaluation(
            ts=now, candidate_id=report.candidate_id, incumbents=tuple(summary["incumbent"]["model_ids"]),
            suite=report.suite, judge_model=report.judge_id, pairs=comparison["pairs"],
            mean_difference=comparison["mean_difference"], p_value=comparison["p_value"],
            verdict=comparison["verdict"]))
        write_audit(conn, actor=actor(), action="evaluate", target=report.candidate_id,
                    after={"suite": report.path, "judge": report.judge_id, "scores": len(rows),
                           "incumbents": summary["incumbent"]["model_ids"], **summary["comparison"]},
                    now=now)
