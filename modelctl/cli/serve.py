"""`modelctl serve`: the registry, router and auto-upgrade HTTP APIs of the original design."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated

import typer

from modelctl.cli.common import JsonOption, say, store_from
from modelctl.errors import InvalidInput, ModelctlError

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event

    from modelctl.api.app import ApiSettings

TOKEN_ENV = "MODELCTL_API_TOKEN"
MIN_TOKEN_CHARS = 16


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on. Anything but loopback "
                                      f"needs ${TOKEN_ENV}.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option("--port", min=0, max=65535, help="One port for every route "
                                             "(default 8000; 0 picks a free one).")] = None,
    registry_port: Annotated[int | None, typer.Option("--registry-port", min=0, max=65535, help="Serve on "
                             "three ports as the original did (8000/8001/8002); each serves every route.")] = None,
    router_port: Annotated[int | None, typer.Option("--router-port", min=0, max=65535)] = None,
    upgrade_port: Annotated[int | None, typer.Option("--upgrade-port", min=0, max=65535)] = None,
    rate_limit: Annotated[float, typer.Option("--rate-limit", min=0.01, metavar="N",
                                              help="Requests per second per client, on average.")] = 100.0,
    burst: Annotated[int, typer.Option("--burst", min=1, help="Requests a client may send at once.")] = 200,
    max_body: Annotated[int, typer.Option("--max-body", min=1024, metavar="BYTES",
                                          help="Larger request bodies get 413.")] = 1 << 20,
    tick_interval: Annotated[float, typer.Option("--tick-interval", min=1.0, metavar="SECONDS",
                             help="Upgrade tick period once POST /start (or --schedule) runs it.")] = 900.0,
    discover_interval: Annotated[float, typer.Option("--discover-interval", min=1.0, metavar="SECONDS",
                                 help="Discovery period (default: weekly).")] = 7 * 86_400.0,
    schedule: Annotated[bool, typer.Option("--schedule", help="Start the upgrade tick and discovery "
                                           "schedule at once (as POST /start does).")] = False,
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        "--forwarded-allow-ips", metavar="ADDRESSES",
        help="Proxies (comma-separated addresses, or *) whose X-Forwarded-For / -Proto are believed; the "
             "rate limit then counts the forwarded client. Default: none, so a client cannot forge its "
             "address.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, metavar="N", help="Server processes "
                       "on this host accepting on the same port(s) (SO_REUSEPORT). The schedule runs in the "
                       "first only (--schedule; POST /start and /stop then answer 409). Rate limits are per "
                       "process.")] = 1,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn's: critical, error, warning, "
                                           "info, debug.")] = "info",
    as_json: JsonOption = False,
) -> None:
    """Serve the HTTP API (FastAPI): registry, router, auto-upgrade, /metrics and /docs, and
    the OpenAI-compatible gateway: point any OpenAI client's base_url at http://HOST:PORT/v1 and
    its chat requests are routed, fall back, roll out and are recorded (model "auto", a segment
    or a model id).

    Needs the serve extra (pip install 'modelctl[serve]'). With --json, prints one line
    {"urls": [...]} on stdout once listening (useful with --port 0). With $MODELCTL_API_TOKEN set,
    callers need it or a key from `modelctl keys create` (bearer); without it, a loopback server
    lets anyone on this host in, and a key still counts its calls against its budget.

    \b
    Examples (the second needs $MODELCTL_API_TOKEN set):
      modelctl serve
      modelctl serve --host 0.0.0.0 --workers 2
    """
    try:
        import fastapi  # noqa: F401 - only asks whether the serve extra is installed
        import uvicorn  # noqa: F401 - likewise
    except ImportError:
        raise InvalidInput("modelctl serve needs FastAPI and uvicorn: pip install 'modelctl[serve]'") from None
    from modelctl.api.server import Servers, check_host

    token = os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise InvalidInput(f"${TOKEN_ENV} is {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
                           "(e.g. `openssl rand -hex 24`)")
    check_host(host, token=token)
    three = (registry_port, router_port, upgrade_port)
    if any(p is not None for p in three):
        if port is not None:
            raise InvalidInput("give --port, or --registry-port/--router-port/--upgrade-port, not both")
        ports = [p if p is not None else default for p, default in zip(three, (8000, 8001, 8002), strict=True)]
    else:
        ports = [8000 if port is None else port]

    import multiprocessing

    from modelctl.api.app import ApiSettings, create_app

    store = store_from(ctx)
    settings = ApiSettings(
        token=token, rate_per_s=rate_limit, burst=burst, max_body_bytes=max_body,
        tick_interval_s=tick_interval, discover_interval_s=discover_interval, schedule_by_http=workers == 1,
    )
    app = create_app(store, settings)
    servers = Servers(app, host=host, ports=ports, log_level=log_level, forwarded_allow_ips=forwarded_allow_ips,
                      reuse_port=workers > 1)
    # the other workers bind the ports this process now holds (port 0 resolved), beside it
    spawn = multiprocessing.get_context("spawn")
    others = []
    for _ in range(workers - 1):
        started = spawn.Event()
        process = spawn.Process(target=_worker, daemon=True, kwargs={
            "db_url": store.url, "settings": settings, "host": host,
            "ports": [sock.getsockname()[1] for sock in servers.sockets], "log_level": log_level,
            "forwarded_allow_ips": forwarded_allow_ips, "started": started})
        process.start()
        others.append((process, started))

    def ready() -> None:
        for process, started in others:
            if not started.wait(60):
                servers.stop()
                raise ModelctlError(f"worker process {process.pid} did not start; see its messages above")
        if schedule:
            app.state.loop.start()
        if as_json:
            print(json.dumps({"urls": servers.urls}), flush=True)
        say(f"modelctl serving on {', '.join(servers.urls)} (docs: {servers.urls[0]}/docs)"
            + (f" in {workers} processes" if workers > 1 else "") + ("; bearer token required" if token else ""))

    try:
        servers.serve(ready=ready)
    finally:
        for process, _ in others:
            process.terminate()  # SIGTERM: it finishes its requests in flight, as this one did
        for process, _ in others:
            process.join(15)


def _worker(*, db_url: str, settings: ApiSettings, host: str, ports: list[int], log_level: str,
            forwarded_allow_ips: str | None, started: Event) -> None:
    """Another `serve --workers` process: the same app on the same ports, over its own store handle."""
    from modelctl.api.app import create_app
    from modelctl.api.server import Servers
    from modelctl.services.database import open_database

    store = open_database(db_url, migrate=False)  # the first process migrated it
    servers = Servers(create_app(store, settings), host=host, ports=ports, log_level=log_level,
                      forwarded_allow_ips=forwarded_allow_ips, reuse_port=True)
    servers.serve(ready=started.set)
    store.dispose()
