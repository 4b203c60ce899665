"""User feedback over HTTP: what `modelctl feedback` does, for a gateway's thumbs up and down."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from modelctl.api.schemas import Problem

router = APIRouter(tags=["feedback"])


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=200, description="The request_id the answer came with.")
    score: float = Field(ge=0, le=1, allow_inf_nan=False, description="0 useless .. 1 perfect.")


class FeedbackOut(BaseModel):
    request_id: str
    score: float
    replaced: float | None = Field(description="The earlier score of this request, now replaced.")
    model_id: str
    provider: str
    arm: str
    segment: str | None
    attempt: int
    ts: str


@router.post("/feedback", response_model=FeedbackOut,
             responses={404: {"model": Problem, "description": "No answered request with that id"}})
def feedback(request: Request, body: FeedbackBody) -> dict:
    """Score the answer a request got; a second score for the same request replaces the first."""
    from modelctl.services.feedback import record_feedback

    return record_feedback(request.app.state.store, body.request_id, score=body.score)
