"""Every test gets its own modelctl home (database, config, cache) and no real provider keys.

`--db-backend postgres` points every test's default database at a fresh PostgreSQL database on
the server named by MODELCTL_TEST_DATABASE_URL (.ci/run starts one and sets it). Tests that take
the `db_url` fixture run on both backends; the PostgreSQL half skips when no server is given.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fakes.fixtures import *  # noqa: F403 - fake_openai, fake_anthropic, ...
from tests.postgres_scratch import scratch_database

PROVIDER_ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OLLAMA_HOST",
    "HF_TOKEN", "HF_BASE_URL", "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL",
)
POSTGRES_ENV = "MODELCTL_TEST_DATABASE_URL"

# The original design's chains, as bundled before today's models took their roles.
ORIGINAL_POLICY = """\
max_query_chars: 100000
min_quality_ratio: 0.95
cost_weight: 0.15
segments:
  simple:
    chain: [gpt-3.5-turbo-0125, claude-3-5-sonnet-20241022, gpt-4o-2024-08-06,
            gpt-6-luna, claude-haiku-5-5, llama3.1:8b]
    budget_seconds: 5
  technical:
    chain: [claude-3-5-sonnet-20241022, gpt-4o-2024-08-06, gpt-3.5-turbo-0125,
            claude-sonnet-5-5, gpt-6.1-sol, gpt-5.4-mini-2026-03-17]
    budget_seconds: 7
  research:
    chain: [gpt-4o-2024-08-06, claude-3-5-sonnet-20241022, gpt-3.5-turbo-0125,
            gpt-6.1-sol, claude-opus-5-5, claude-sonnet-5-5]
    budget_seconds: 10
  multimedia:
    chain: [gpt-4o-2024-08-06]
    budget_seconds: 10
    fallback_to_capable: true
refinement:
  fast:
    chain: [gpt-4o-mini-2024-07-18, claude-3-5-haiku-20241022, gpt-6-luna, claude-haiku-5-5]
  quality:
    chain: [claude-3-5-haiku-20241022, gpt-4o-mini-2024-07-18, claude-haiku-5-5, gpt-5.4-mini-2026-03-17]
  lmm:
    chain: [gpt-4o-mini-2024-07-18, gpt-6-luna, claude-haiku-5-5]
"""
# A day on which every model of those chains is live (the first retirement is 2026-02-19).
ORIGINAL_CHAINS_DAY = "2026-01-15T12:00:00Z"


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


@pytest.fixture
def original_chains(tmp_path, monkeypatch) -> Path:
    """The original design's chains in this test's config directory, on a day before any of their
    models retired: tests of fallbacks, cooldowns and rollouts are about the mechanics, and keep
    passing whatever models the bundled defaults name and whatever the calendar says.

    Shares the config directory a fixture like every_fake_configured set; a test that moves the
    clock (MODELCTL_NOW) keeps these chains as designed while it stays before 2026-02-19."""
    named = os.environ.get("MODELCTL_CONFIG_DIR")
    config = Path(named) if named else tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "policy.yaml").write_text(ORIGINAL_POLICY)
    monkeypatch.setenv("MODELCTL_CONFIG_DIR", str(config))
    monkeypatch.setenv("MODELCTL_NOW", ORIGINAL_CHAINS_DAY)
    return config


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

    def __call__(self, *args: str, input: str | None = None, code: int = 0):
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
