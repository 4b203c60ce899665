"""`modelctl run`: route a query, call the model, fall back inside the budget, print the answer."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from modelctl.cli.classify import AttachOption
from modelctl.cli.common import QUERY_HELP, JsonOption, money, print_json, query_text, say, store_from

if TYPE_CHECKING:
    from modelctl.services.run import Attempt, RunResult


def run(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help=QUERY_HELP)],
    attach: AttachOption = None,
    segment: Annotated[str | None, typer.Option("--segment", help="Route with this segment's policy "
                                                "(default: the query type).")] = None,
    system: Annotated[str | None, typer.Option("--system", metavar="TEXT", help="A system prompt.")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Cap the answer's length in tokens.")] = None,
    stream: Annotated[bool | None, typer.Option("--stream/--no-stream", help="Print tokens as they arrive "
                                                "(default: when stdout is a terminal).")] = None,
    deadline_ms: Annotated[int | None, typer.Option("--deadline-ms", help="Overall budget in ms for all attempts "
                                                    "(default: the segment's).")] = None,
    request_id: Annotated[str | None, typer.Option("--request-id", help="Recorded with the usage rows; decides "
                                                   "rollout arms (default: a new random id).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Answer a query with the routed model, falling back down the chain within the budget.

    Every attempt is recorded (latency, tokens, cost; never the text). Exits 4 when every model
    failed, listing each failure. A shadow call (a rollout's candidate answering a copy) is made
    by a detached process after the answer is out; run does not wait for it.

    \b
    Examples:
      modelctl run "What is the capital of France?"
      modelctl run "What does this receipt say?" --attach receipt.jpg --json
      modelctl run - < prompt.txt
    """
    from modelctl.errors import AllModelsFailed, ModelctlError
    from modelctl.services.run import detach_followup, run_query

    if stream is None:
        stream = sys.stdout.isatty()
    live = stream and not as_json
    printed = False

    def on_token(piece: str) -> None:
        nonlocal printed
        printed = True
        sys.stdout.write(piece)
        sys.stdout.flush()

    def on_fallback(attempt: Attempt, next_model: str) -> None:
        nonlocal printed
        if printed:
            sys.stdout.write("\n")
            printed = False
        say(f"{attempt.model_id} failed ({attempt.error_kind}): {attempt.error}; trying {next_model}")

    def deliver(result: RunResult) -> None:
        if as_json:
            print_json(result.as_dict())
        elif live:
            sys.stdout.write("\n")
        else:
            sys.stdout.write(result.answer + "\n")
        sys.stdout.flush()
        served = result.served
        cost = money(served.cost_usd, missing="unpriced")
        if not as_json:
            say(f"{result.model_id} ({result.provider}): {served.latency_ms:,.0f} ms, "
                f"{served.tokens_in}+{served.tokens_out} tokens, {cost}, request {result.request_id}")

    store = store_from(ctx)
    try:
        result = run_query(
            store, query_text(query), attachments=attach or (), segment=segment, system=system,
            max_tokens=max_tokens, stream=stream, deadline_ms=deadline_ms, request_id=request_id,
            on_token=on_token if live else None, on_fallback=on_fallback, deliver=deliver,
        )
    except AllModelsFailed as exc:
        if as_json:
            print_json({"answer": None, "model_id": None, "attempts": exc.attempts})
        raise
    for note in result.notes:
        say(f"note: {note}")
    if result.followup is not None:
        try:
            detach_followup(store, result.followup)
        except ModelctlError as exc:  # the user has the answer: this is a warning, not a failure
            say(f"warning: {exc}")
