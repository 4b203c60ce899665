"""`modelctl feedback`: a user's score on the answer a request got."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.cli.common import JsonOption, print_json, say, store_from


def feedback(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(help="The request_id `modelctl run --json` printed.")],
    score: Annotated[float, typer.Option("--score", metavar="0..1",
                                         help="How good the answer was: 0 useless, 1 perfect.")],
    as_json: JsonOption = False,
) -> None:
    """Score the answer a request got (the attempt that served it, never a shadow call).

    The score becomes the served attempt's quality: `models show` and the rollout quality gates
    read it.
    Scoring the same request again replaces the earlier score; it is never counted twice.
    An unknown request id exits 3.

    \b
    Example:
      modelctl feedback 3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b --score 0.8
    """
    from modelctl.services.feedback import record_feedback

    result = record_feedback(store_from(ctx), request_id, score=score)
    if as_json:
        print_json(result)
        return
    replaced = "" if result["replaced"] is None else f" (replaced {result['replaced']:g})"
    say(f"scored request {request_id}: {result['score']:g}{replaced} on {result['model_id']}, "
        f"{result['arm']} arm, attempt {result['attempt']}")
