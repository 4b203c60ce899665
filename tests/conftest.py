"""Every test gets its own modelctl home (database, config, cache) and no real provider keys."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.fakes.fixtures import *  # noqa: F401,F403 - fake_openai, fake_anthropic, ...

PROVIDER_ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OLLAMA_HOST",
    "HF_TOKEN", "HF_BASE_URL", "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL",
)


@pytest.fixture(autouse=True)
def modelctl_home(tmp_path, monkeypatch):
    home = tmp_path / "modelctl-home"
    monkeypatch.setenv("MODELCTL_HOME", str(home))
    for name in ("MODELCTL_DATABASE_URL", "MODELCTL_CONFIG_DIR", "MODELCTL_NOW", "MODELCTL_ACTOR", *PROVIDER_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return home


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
