"""The judge: quality evidence for rollouts from live traffic, without storing prompts or answers.

Two uses, both made by the detached worker after the user has the answer (shadow_worker.py):

- a shadow pair: the judge model sees the request with the incumbent's and the candidate's
  answers twice, once with the candidate as A and once as B, so a judge that favours a position
  favours both models alike. Each look gives the candidate +1 (preferred), 0 (TIE) or -1; the
  verdict is a win when the sum is positive (both looks, or one look and a tie), a loss when it is
  negative, and a tie otherwise (two ties, or a split that only position explains). Only the
  verdict is stored (store/judge.py); an unparseable or failed look stores the verdict "error",
  which no gate counts.
- a served canary or control answer: the judge grades it 0..10 and grade / 10 becomes that usage
  row's quality, unless a user's feedback already set it; a user's later feedback replaces it. A
  user who read the answer knows more than a judge that did not ask the question.

Judge calls are usage rows of arm "judge" (recorded like `run`'s, outside every gate's sample and
never resting a provider), and none is made once today's judge calls (UTC) cost the configured
`daily_budget_usd`. The judge is never the candidate or the incumbent: a model grading itself
favours itself, so such a pair is skipped here and `promote` and `upgrade tick` refuse the setting.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import TYPE_CHECKING

from modelctl import clock
from modelctl.errors import ConfigError
from modelctl.providers.base import ChatRequest
from modelctl.store import judge as repo
from modelctl.store.db import Store

if TYPE_CHECKING:
    from modelctl.config import JudgeSettings
    from modelctl.services.run import FollowUp, ScoreCall, ShadowCall
    from modelctl.store.rollouts import Rollout

PAIR_SYSTEM = "You compare two answers to the same request. Reply with A, B or TIE and nothing else."
PAIR_PROMPT = (
    "Which answer serves the request below better: correct, complete and concise?\n\n"
    "Request:\n{prompt}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\n"
    "Reply with one word: A if answer A is better, B if answer B is better, TIE if neither is."
)
GRADE_SYSTEM = "You grade answers to questions. Reply with one integer from 0 to 10 and nothing else."
GRADE_PROMPT = (
    "Grade the answer to the question below from 0 (wrong or useless) to 10 (correct, complete and "
    "concise).\n\nQuestion:\n{prompt}\n\nAnswer:\n{answer}\n\n"
    "Reply with the grade only: a single integer from 0 to 10."
)
# The judge's reply is one short token; room for "Answer A" or "Score: 7/10", not an essay.
REPLY_TOKENS = 16
# A choice alone, perhaps labelled, bolded or punctuated: "A", "**B**", "Answer A.", "tie".
_CHOICE = re.compile(r"^[\W_]*(?:answer\s+)?(a|b|tie)[\W_]*$", re.IGNORECASE)
# A grade alone, perhaps labelled, bolded or out of 10: "7", "Score: 7/10", "**8**".
_GRADE = re.compile(r"^[\W_]*(?:grade|score)?[\W_]*?(\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10)?[\W_]*$", re.IGNORECASE)
_POINTS_AS_A = {"A": 1, "TIE": 0, "B": -1}  # the candidate shown as A
_POINTS_AS_B = {"B": 1, "TIE": 0, "A": -1}  # the candidate shown as B


def parse_choice(text: str) -> str | None:
    """"A", "B" or "TIE" from the judge's reply; None when the reply is anything else."""
    match = _CHOICE.match(text.strip())
    return None if match is None else match.group(1).upper()


def parse_grade(text: str) -> float | None:
    """The judge's 0..10 grade, or None when its answer is not a grade alone."""
    match = _GRADE.match(text.strip())
    if match is None:
        return None
    grade = float(match.group(1))
    return grade if 0 <= grade <= 10 else None


def combine(candidate_as_a: str, candidate_as_b: str) -> str:
    """The candidate's verdict from both orders (see the module docstring): "win", "tie" or "loss"."""
    points = _POINTS_AS_A[candidate_as_a] + _POINTS_AS_B[candidate_as_b]
    return "win" if points > 0 else "loss" if points < 0 else "tie"


def sampled(request_id: str, share: float, *, purpose: str) -> bool:
    """Whether this request is in the judged `share`: a hash, so a retried request id decides alike."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"judge-{purpose}:{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def load_judge() -> JudgeSettings | None:
    from modelctl.config import load_upgrade

    return load_upgrade().judge


def check_judge(settings: JudgeSettings | None, rollouts: list[Rollout]) -> None:
    """Refuse a judge that is a rollout's candidate or incumbent: it would be grading itself."""
    if settings is None:
        return
    for rollout in rollouts:
        if settings.model in (rollout.candidate_id, rollout.incumbent_id):
            role = "candidate" if settings.model == rollout.candidate_id else "incumbent"
            raise ConfigError(f"upgrade.yaml: judge.model {settings.model} is the {role} of the rollout "
                              f"{rollout.candidate_id} vs {rollout.incumbent_id}; a model cannot judge its own "
                              "answers: set judge.model to another model")


def _day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def spend_today(store: Store, *, now: datetime | None = None) -> float:
    return repo.judge_spend(store, since=_day_start(now or clock.now()))


def _within_budget(store: Store, settings: JudgeSettings) -> bool:
    return spend_today(store) < settings.daily_budget_usd


def _active_rollout(store: Store, *, phase: str, segment: str, model_id: str) -> Rollout | None:
    from modelctl.store.rollouts import list_rollouts

    for rollout in list_rollouts(store, phases=(phase,)):
        if segment in rollout.segments and model_id in (rollout.candidate_id, rollout.incumbent_id):
            return rollout
    return None


def follow_up(store: Store, job: FollowUp) -> None:
    """What the detached worker does: the shadow call (and its judging), then the served answer's score."""
    from modelctl.services.run import make_shadow_call

    if job.shadow is not None:
        _, answer = make_shadow_call(store, job.shadow)
        if answer is not None and job.shadow.incumbent_answer is not None:
            judge_pair(store, job.shadow, candidate_answer=answer)
    if job.score is not None:
        score_answer(store, job.score)


def _ask(store: Store, settings: JudgeSettings, *, prompt: str, system: str, segment: str, request_id: str,
         number: int) -> tuple[str | None, float | None]:
    """One judge call, recorded as a usage row of arm "judge": (its reply or None, its cost)."""
    from modelctl.services.run import observe_call

    request = ChatRequest(model_id=settings.model, prompt=prompt, system=system, max_tokens=REPLY_TOKENS)
    attempt, reply = observe_call(store, request, arm="judge", segment=segment, request_id=request_id,
                                  number=number, budget_s=settings.timeout_s)
    return reply, attempt.cost_usd


def judge_pair(store: Store, call: ShadowCall, *, candidate_answer: str,
               settings: JudgeSettings | None = None) -> str | None:
    """Judge a shadow pair in both orders and store the candidate's verdict; None when not judged."""
    settings = settings or load_judge()
    incumbent_answer = call.incumbent_answer
    if settings is None or incumbent_answer is None:
        return None
    rollout = _active_rollout(store, phase="shadow", segment=call.segment, model_id=call.request.model_id)
    if rollout is None or settings.model in (rollout.candidate_id, rollout.incumbent_id):
        return None
    prompt = call.request.prompt
    choices: list[str | None] = []
    cost = 0.0
    for number, (a, b) in enumerate(((candidate_answer, incumbent_answer), (incumbent_answer, candidate_answer)),
                                    start=call.attempt + 1):
        if not _within_budget(store, settings):
            return None
        reply, spent = _ask(store, settings, prompt=PAIR_PROMPT.format(prompt=prompt, a=a, b=b),
                            system=PAIR_SYSTEM, segment=call.segment, request_id=call.request_id, number=number)
        cost += spent or 0.0
        choices.append(None if reply is None else parse_choice(reply))
        if choices[-1] is None:
            break
    first, second = [*choices, None][:2]
    verdict = "error" if first is None or second is None else combine(first, second)
    with store.write() as conn:
        repo.insert_verdict(conn, rollout_id=rollout.id, candidate_id=rollout.candidate_id,
                            incumbent_id=rollout.incumbent_id, segment=call.segment, request_id=call.request_id,
                            verdict=verdict, judge_model=settings.model, cost_usd=cost, now=clock.now())
    return verdict


def score_answer(store: Store, call: ScoreCall, *, settings: JudgeSettings | None = None) -> float | None:
    """Grade a served canary or control answer into its usage row's quality; None when not scored."""
    from modelctl.store.feedback import score_served_attempt

    settings = settings or load_judge()
    if settings is None:
        return None
    rollout = _active_rollout(store, phase="canary", segment=call.segment, model_id=call.request.model_id)
    if rollout is None or settings.model in (rollout.candidate_id, rollout.incumbent_id):
        return None
    if not _within_budget(store, settings):
        return None
    reply, _ = _ask(store, settings, prompt=GRADE_PROMPT.format(prompt=call.request.prompt, answer=call.answer),
                    system=GRADE_SYSTEM, segment=call.segment, request_id=call.request_id, number=call.attempt)
    grade = None if reply is None else parse_grade(reply)
    if grade is None:
        return None
    with store.write() as conn:
        score_served_attempt(conn, request_id=call.request_id, score=grade / 10, keep_existing=True)
    return grade / 10


def judge_status(store: Store, settings: JudgeSettings | None) -> dict[str, object] | None:
    """The judge, today's spend and the cap, for `upgrade status`; None when no judge is configured."""
    if settings is None:
        return None
    return {"model": settings.model, "spent_today_usd": round(spend_today(store), 6),
            "daily_budget_usd": settings.daily_budget_usd}
