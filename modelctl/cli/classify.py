"""`modelctl classify`: query type, complexity and latency budget, with the signals behind them."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.cli.batch import BatchOption, WorkersOption, run_batch
from modelctl.cli.common import QUERY_HELP, JsonOption, emit, print_table, query_text
from modelctl.errors import InvalidInput

AttachOption = Annotated[
    list[str] | None,
    typer.Option("--attach", metavar="PATH|URL", help="A file or URL the model must see or hear (repeatable)."),
]


def classify(
    query: Annotated[str | None, typer.Argument(help=QUERY_HELP)] = None,
    attach: AttachOption = None,
    batch: BatchOption = None,
    workers: WorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Classify a query: simple / technical / research / multimedia, complexity, budget.

    \b
    Examples:
      modelctl classify "Why does my Dockerfile COPY fail with 'no such file'?" --json
      modelctl classify - < question.txt
    """
    from modelctl.services.routing import classify_query, load_routing_config

    config = load_routing_config()
    if batch is not None:
        run_batch(batch, lambda item: classify_query(item.query, item.attachments, config=config).as_dict(),
                  workers=workers)
        return
    if query is None:
        raise InvalidInput("give a QUERY, or --batch FILE|-")
    result = classify_query(query_text(query), attach or (), config=config).as_dict()
    emit(result, as_json=as_json, table=lambda: print_table(
        ["query type", "complexity", "budget s", "confidence", "signals"],
        [(result["query_type"], result["complexity"], result["budget_seconds"], f"{result['confidence']:.2f}",
          "; ".join(result["signals"]))],
    ))
