"""`modelctl metrics`: the Prometheus exposition, for a scrape by node_exporter or by hand."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from modelctl.cli.common import JsonOption, print_json, say, store_from
from modelctl.errors import InvalidInput, ModelctlError


def metrics(
    ctx: typer.Context,
    textfile: Annotated[Path | None, typer.Option(
        "--textfile", metavar="PATH",
        help="Write the exposition to PATH atomically (a temp file renamed over it), for "
             "node_exporter's textfile collector, instead of printing it.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Print Prometheus metrics computed from the database: calls, failures, latency, TTFT, tokens
    and cost per model and provider; first-choice and fallback calls per segment (last hour);
    provider health and cooldowns; discovery runs; rollouts, gate verdicts, promotions, rollbacks.

    \b
    Example (cron, every minute):
      modelctl metrics --textfile /var/lib/node_exporter/modelctl.prom
    """
    from modelctl import clock
    from modelctl.services.metrics import as_json as metrics_json
    from modelctl.services.metrics import exposition

    store = store_from(ctx)
    if as_json:
        print_json(metrics_json(store, now=clock.now))
        return
    text = exposition(store, now=clock.now)
    if textfile is None:
        sys.stdout.write(text)
        return
    _write_atomically(textfile, text)
    say(f"wrote {textfile}")


def _write_atomically(path: Path, text: str) -> None:
    """A collector reading mid-write would see half a file; a rename is all or nothing."""
    if path.is_dir():
        raise InvalidInput(f"--textfile {path}: is a directory; give a file name ending in .prom")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ModelctlError(f"--textfile {path}: cannot write ({exc.strerror})") from None
