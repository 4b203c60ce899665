"""The surface stays honest: every command has help, and the README's command reference is that help."""

from __future__ import annotations

import os
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import typer
from cogapp import Cog

from modelctl.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(cmd=None, path=("modelctl",)):
    cmd = cmd or typer.main.get_command(app)
    for name in cmd.list_commands(None):
        sub = cmd.get_command(None, name)
        if hasattr(sub, "commands"):
            yield from _commands(sub, (*path, name))
        else:
            yield " ".join((*path, name)), sub


def test_every_command_has_help_and_is_documented():
    commands = dict(_commands())
    assert len(commands) >= 15
    for name, command in commands.items():
        assert (command.help or "").strip(), f"{name} has no help text"
        assert f"`{name}`" in README, f"{name} is missing from the README command reference"


def test_the_readme_command_reference_is_the_commands_own_help(monkeypatch, capsys):
    """Change a command's help or options and this fails until `cog -r README.md` is run."""
    monkeypatch.chdir(ROOT)  # the cog block runs scripts/cli_reference.py by its relative path
    status = Cog().main(["cog", "--check", "README.md"])
    assert status == 0, "README.md's command reference is stale: run `cog -r README.md`\n" + capsys.readouterr().out


def test_the_generated_reference_does_not_depend_on_the_terminal(monkeypatch):
    render = runpy.run_path(str(ROOT / "scripts" / "cli_reference.py"))["markdown"]
    monkeypatch.setenv("COLUMNS", "40")
    narrow = render()
    monkeypatch.setenv("COLUMNS", "250")
    assert render() == narrow
    assert "Usage: modelctl route [OPTIONS]" in narrow


def test_every_read_command_offers_json():
    writes = {"modelctl init", "modelctl models set-status", "modelctl db upgrade"}
    for name, command in _commands():
        if name in writes:
            continue
        options = {opt for p in command.params for opt in getattr(p, "opts", [])}
        assert "--json" in options or "--batch" in options, f"{name} has no --json"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e '.[test]' && python -m pytest" in README
    assert "pip install -e '\\.\\[test\\]' && python -m pytest" in ci


def test_ci_runs_the_linters_the_project_configures():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for tool in ("ruff", "mypy", "import-linter"):
        assert f"[tool.{tool.replace('-', '')}" in pyproject, tool
    for command in ("ruff check", "mypy", "lint-imports"):
        assert command in ci, command


def test_quick_start_route_in_a_real_process(tmp_path):
    """The README's first command, minus the install: a fresh home, no keys, a real subprocess."""
    env = {"PATH": "/usr/bin:/bin", "MODELCTL_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "modelctl", "route", "What is the capital of France?"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "fallbacks:" in done.stdout and "--ignore-keys" in done.stderr
    listed = subprocess.run([sys.executable, "-m", "modelctl", "models", "list", "--json"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0 and '"gpt-4o-2024-08-06"' in listed.stdout


def _help_at(command_path: str, columns: int) -> str:
    env = {**os.environ, "COLUMNS": str(columns)}
    done = subprocess.run([sys.executable, "-m", "modelctl", *command_path.split()[1:], "-h"],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    return done.stdout


def _examples(help_text: str) -> list[str]:
    """The lines of the help's Example blocks, as a reader would copy them."""
    lines, taking = [], False
    for line in help_text.splitlines():
        if re.fullmatch(r"\s*Examples?\b[^:]*:", line):
            taking = True
        elif not line.strip():
            taking = False
        elif taking:
            lines.append(line.strip())
    return lines


def _parse(example: str) -> None:
    """Parse an example as the shell would hand it to modelctl, down to its command; run nothing."""
    words = shlex.split(example)
    for index, word in enumerate(words):
        if word in ("<", ">", "|"):  # the shell's, not ours
            words = words[:index]
            break
    command = typer.main.get_command(app)
    ctx = command.make_context("modelctl", words[1:])
    while hasattr(command, "resolve_command"):  # a group: what follows names its subcommand
        _, command, rest = command.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        ctx = command.make_context(command.name, rest, parent=ctx)


def test_every_command_shows_examples_that_can_be_copied_and_run():
    for name, _ in _commands():
        text = _help_at(name, 80)
        examples = _examples(text)
        assert examples, f"{name} -h shows no Example block:\n{text}"
        for example in examples:
            assert f"{example} ".startswith(f"{name} ") or example.startswith("modelctl --db "), (name, example)
            _parse(example)  # a usage error raises


def test_help_never_splits_an_option_name_across_lines():
    for name, command in _commands():
        text = _help_at(name, 80)
        assert not re.search(r"\w-\n", text), f"{name} -h breaks a word at a hyphen:\n{text}"
        for option in (opt for p in command.params for opt in getattr(p, "opts", []) if opt.startswith("--")):
            assert option in text, (name, option)
