"""A real server on an ephemeral loopback port, on a thread, over this test's own database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi", reason="needs the serve extra: pip install -e '.[test]'")


@pytest.fixture
def serve(modelctl_home) -> Iterator:
    """`serve(**ApiSettings fields, ports=[0], forwarded_allow_ips=None)` starts a server and returns
    url(s), app and an httpx2 client."""
    import httpx2

    from modelctl.api.app import ApiSettings, create_app
    from modelctl.api.server import Servers
    from modelctl.services.database import open_database

    running = []

    def start(*, ports: tuple[int, ...] = (0,), forwarded_allow_ips: str | None = None, **settings) -> SimpleNamespace:
        store = open_database(None)
        app = create_app(store, ApiSettings(**settings))
        servers = Servers(app, host="127.0.0.1", ports=ports, log_level="warning", access_log=False,
                          forwarded_allow_ips=forwarded_allow_ips)
        ready = threading.Event()
        thread = threading.Thread(target=lambda: servers.serve(ready=ready.set), daemon=True)
        thread.start()
        assert ready.wait(15), "the server did not start"
        client = httpx2.Client(base_url=servers.urls[0], timeout=30)
        running.append((servers, thread, store, client))
        return SimpleNamespace(url=servers.urls[0], urls=servers.urls, app=app, client=client)

    yield start
    for servers, thread, store, client in running:
        client.close()
        servers.stop()
        thread.join(15)
        store.dispose()


@pytest.fixture
def api(serve) -> SimpleNamespace:
    return serve()
