"""Serving one app on one or several ports from one process: uvicorn servers in one event loop.

Sockets are bound before any server starts, so a port in use is one clear error, and port 0
(an ephemeral port) is known before the first request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import uvicorn

from modelctl.errors import InvalidInput, ModelctlError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it could resolve to anything


def check_host(host: str, *, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token that every request must carry."""
    if not is_loopback(host) and not token:
        raise InvalidInput(
            f"--host {host} is reachable from other machines; set MODELCTL_API_TOKEN (every request "
            "but GET /health must then send `Authorization: Bearer <token>`), or keep --host 127.0.0.1"
        )


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket made as IPPROTO_TCP: asyncio sets TCP_NODELAY only on accepted sockets
    whose protocol says TCP, and without it Nagle's algorithm and delayed ACKs hold every small
    keep-alive response for ~40 ms. `reuse_port`: several processes accept on one port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ModelctlError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another "
                            "--port, or stop what holds it") from None
    sock.set_inheritable(True)
    return sock


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with its access log on stderr too: stdout carries data only (`serve --json`)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for handler in config["handlers"].values():
        handler["stream"] = "ext://sys.stderr"
    return config


LOG_CONFIG = _log_config()


class _Server(uvicorn.Server):
    """uvicorn's Server without its own signal handling: `Servers` stops them all together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Servers:
    """The app on each of `ports` of `host`, bound at construction; `run()` serves until `stop()`."""

    def __init__(self, app: Any, *, host: str, ports: Sequence[int], log_level: str = "info",
                 access_log: bool = True, forwarded_allow_ips: str | None = None,
                 reuse_port: bool = False) -> None:
        self.host = host
        self.sockets: list[socket.socket] = []
        try:
            for port in ports:
                self.sockets.append(bind(host, port, reuse_port=reuse_port))
        except ModelctlError:
            self.close()
            raise
        # one lifespan (the app's shutdown stops its schedule once), on the first server
        self.servers = [
            _Server(uvicorn.Config(app, log_level=log_level, access_log=access_log, log_config=LOG_CONFIG,
                                   proxy_headers=bool(forwarded_allow_ips), forwarded_allow_ips=forwarded_allow_ips,
                                   lifespan="on" if index == 0 else "off", timeout_graceful_shutdown=5))
            for index, _ in enumerate(self.sockets)
        ]

    @property
    def urls(self) -> list[str]:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return [f"http://{host}:{sock.getsockname()[1]}" for sock in self.sockets]

    def stop(self) -> None:
        """Safe from any thread or a signal handler: uvicorn polls the flag."""
        for server in self.servers:
            server.should_exit = True

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()

    def serve(self, *, ready: Callable[[], None] | None = None) -> None:
        """Serve until `stop()`, on the event loop uvicorn picks: uvloop when it is installed (the
        serve extra installs it, and httptools, which uvicorn then parses HTTP with)."""
        with asyncio.Runner(loop_factory=self.servers[0].config.get_loop_factory()) as runner:
            runner.run(self.run(ready=ready))

    async def run(self, *, ready: Callable[[], None] | None = None) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stop())
        tasks = [asyncio.create_task(server.serve(sockets=[sock]))
                 for server, sock in zip(self.servers, self.sockets, strict=True)]
        try:
            while not all(server.started for server in self.servers):
                if any(task.done() for task in tasks):
                    break
                await asyncio.sleep(0.01)
            else:
                if ready is not None:
                    ready()
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            self.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self.close()
