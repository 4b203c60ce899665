"""The README's command reference, rendered from the commands' own help.

`cog -r README.md` (from the repository root) rewrites the section between the cog markers;
tests/test_docs.py fails when the README differs from what this renders. Help is rendered at a
fixed width, so the text does not depend on the terminal that runs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from modelctl.cli.main import app

WIDTH = 100  # the width every command's help is wrapped to
_COMMON_OPTIONS = {"--json", "--help"}  # every read command has them; the reference says so once


# typer ships its own copy of click: commands and contexts are typed loosely here, by what they do


def commands() -> Iterator[tuple[Any, Any]]:
    """Every leaf command with its context, in the order `modelctl -h` lists them."""
    yield from _walk(_context(typer.main.get_command(app), "modelctl", None))


def _context(command: Any, name: str, parent: Any) -> Any:
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    return command.context_class(command, info_name=name, parent=parent, **settings)


def _walk(ctx: Any) -> Iterator[tuple[Any, Any]]:
    for name in ctx.command.list_commands(ctx):
        command = ctx.command.get_command(ctx, name)
        child = _context(command, name, ctx)
        if hasattr(command, "list_commands"):
            yield from _walk(child)
        else:
            yield child, command


def _summary(command: Any) -> str:
    """The help's first paragraph, on one line, with the table's column separator escaped."""
    first = (command.help or "").strip().split("\n\n")[0]
    return " ".join(first.split()).replace("|", "\\|")


def _options(command: Any) -> str:
    names = [
        min(param.opts, key=len) if len(param.opts) == 1 else max(param.opts, key=len)
        for param in command.params
        if getattr(param, "param_type_name", "") == "option" and not set(param.opts) & _COMMON_OPTIONS
    ]
    return ", ".join(f"`{name}`" for name in names)


def markdown() -> str:
    """The reference: a table of every command, then every command's full `-h`."""
    found = list(commands())
    lines = ["| command | what it does | options |", "|---|---|---|"]
    lines += [f"| `{ctx.command_path}` | {_summary(cmd)} | {_options(cmd)} |" for ctx, cmd in found]
    lines += ["", "<details><summary>Every command's full help (<code>-h</code>)</summary>", ""]
    for ctx, cmd in found:
        lines += [f"#### `{ctx.command_path}`", "", "```text", cmd.get_help(ctx).rstrip(), "```", ""]
    lines += ["</details>", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
