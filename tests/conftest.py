"""Every test gets its own modelctl home (database, config, cache) and no real provider keys.

`--db-backend postgres` points every test's default database at a fresh PostgreSQL database on
the server named by MODELCTL_TEST_DATABASE_URL (.ci/run starts one and sets it). Tests that take
the `db_url` fixture run on both backends; the PostgreSQL half skips when no server is given.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner

from tests.fakes.fixtures import *  # noqa: F401,F403 - fake_openai, fake_anthropic, ...
from tests.postgres_scratch import scratch_database

PROVIDER_ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OLLAMA_HOST",
    "HF_TOKEN", "HF_BASE_URL", "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL",
)
POSTGRES_ENV = "MODELCTL_TEST_DATABASE_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db-backend", choices=("sqlite", "postgres"), default="sqlite",
        help=f"postgres: each test's default database is a fresh database on the server in ${POSTGRES_ENV}",
    )


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A scratch database on the test server; skips the test when no server is named."""
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(f"needs PostgreSQL: set {POSTGRES_ENV}=postgresql+psycopg://USER@HOST:PORT/DB "
                    "(.ci/run starts a server and sets it)")
    pytest.importorskip("psycopg", reason="needs the postgres extra: pip install -e '.[postgres]'")
    with scratch_database(server, "modelctl_test") as url:
        yield url


@pytest.fixture(autouse=True)
def modelctl_home(tmp_path, monkeypatch, request):
    home = tmp_path / "modelctl-home"
    monkeypatch.setenv("MODELCTL_HOME", str(home))
    for name in ("MODELCTL_DATABASE_URL", "MODELCTL_CONFIG_DIR", "MODELCTL_NOW", "MODELCTL_ACTOR", *PROVIDER_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    if request.config.getoption("--db-backend") == "postgres":
        with fresh_postgres_database() as url:
            monkeypatch.setenv("MODELCTL_DATABASE_URL", url)
            yield home
        return
    yield home


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> Iterator[str]:
    """A database URL of its own for this test, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'modelctl.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


class Cli:
    """Runs the real typer app in-process; stdout and stderr kept apart as a user sees them."""

    def __init__(self) -> None:
        from modelctl.cli.main import app

        self.app = app
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, code: int = 0):  # noqa: A002
        result = self.runner.invoke(self.app, list(args), input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == code, (
            f"exit {result.exit_code}, expected {code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result

    def json(self, *args: str, input: str | None = None):
        import json

        return json.loads(self(*args, "--json", input=input).stdout)


@pytest.fixture
def cli() -> Cli:
    return Cli()
