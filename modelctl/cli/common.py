"""What every command shares: the store from --db, output for people or programs, errors at the edge."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer
from typer.core import TyperGroup

from modelctl.errors import Interrupted, ModelctlError

if TYPE_CHECKING:
    from typer._click import Command, Context  # typer ships its own click; its signatures name these

    from modelctl.services.database import Store


def _keep_hyphenated_words_whole() -> None:
    """Help names options (`--tokens-in`, `--skip-invalid`); click's wrapper may split a line at a
    hyphen inside one, which cannot be copied back. Its wrapper serves only help text."""
    import textwrap

    from typer._click import _textwrap

    _textwrap.TextWrapper.wordsep_re = textwrap.TextWrapper.wordsep_simple_re


_keep_hyphenated_words_whole()

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for programs instead of a table.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")]
QUERY_HELP = "The query text, or - to read it from standard input (for long or multi-line text)."


def query_text(query: str) -> str:
    """The query as given, or standard input's text for `-` (one trailing newline, as `echo` adds, dropped)."""
    if query != "-":
        return query
    text = sys.stdin.read()
    return text[:-1] if text.endswith("\n") else text


class ModelctlGroup(TyperGroup):
    """Turns a ModelctlError into its message on stderr and its exit code, and Ctrl-C into
    Interrupted (exit 130); no traceback. A mistyped command gets the closest ones suggested, the
    ones it starts first."""

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        from typer._click.exceptions import UsageError

        try:
            return self._click_resolve_command(ctx, args)
        except UsageError as exc:
            from modelctl.core.names import closest_names

            close = closest_names(args[0], self.list_commands(ctx)) if args else []
            if close:
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(map(repr, close))}?"
            raise

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise typer.Exit(report_error(Interrupted())) from None
        except ModelctlError as exc:
            raise typer.Exit(report_error(exc)) from None


def report_error(exc: ModelctlError) -> int:
    """The one rendering of a failure on stderr: `error: first line`, further lines indented; an
    interruption is no error, so its message stands alone. Returns the code to exit with."""
    first, *rest = (str(exc).strip() or type(exc).__name__).splitlines()
    print(first if isinstance(exc, Interrupted) else f"error: {first}", file=sys.stderr)
    for line in rest:
        print(f"  {line}", file=sys.stderr)
    return exc.exit_code


class LazyGroup(ModelctlGroup):
    """A group whose commands are imported and built only when one is invoked (or for -h).

    Typer turns every registered command into a click command at start-up; with a few dozen
    commands that dominated the start of `modelctl route`. `lazy_commands` maps a name to
    (module, attribute): a Typer sub-app, or a command function.
    """

    lazy_commands: ClassVar[dict[str, tuple[str, str]]] = {}

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.lazy_commands)

    def get_command(self, ctx: Context, name: str) -> Command | None:
        if name not in self.commands and name in self.lazy_commands:
            import importlib

            module, attribute = self.lazy_commands[name]
            target = getattr(importlib.import_module(module), attribute)
            command: Command
            if isinstance(target, typer.Typer):
                command = typer.main.get_group(target)  # a group even when it has one command
            else:
                single = typer.Typer(add_completion=False, rich_markup_mode=None,
                                     context_settings={"help_option_names": ["-h", "--help"]})
                single.command(name)(target)
                command = typer.main.get_command(single)
            command.name = name
            self.commands[name] = command
        return self.commands.get(name)


def new_app(help_text: str, *, cls: type[TyperGroup] = ModelctlGroup) -> typer.Typer:
    return typer.Typer(
        cls=cls,
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        pretty_exceptions_show_locals=False,
        rich_markup_mode=None,
    )


def store_from(ctx: typer.Context, *, migrate: bool = True) -> Store:
    from modelctl.services.database import open_database

    root = ctx.find_root()
    db = (root.obj or {}).get("db")
    return open_database(db, migrate=migrate)


def say(message: str) -> None:
    """A message for the person at the terminal: stderr, so stdout stays data."""
    print(message, file=sys.stderr)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_json_value, ensure_ascii=False) + "\n")


def _json_value(value: Any) -> Any:
    """Timestamps as RFC 3339 UTC (`2026-12-05T07:25:36Z`), dates as 2026-12-05, the rest as text."""
    from datetime import date, datetime

    from modelctl.clock import rfc3339

    if isinstance(value, datetime):
        return rfc3339(value)
    return value.isoformat() if isinstance(value, date) else str(value)


def print_line(text: str) -> None:
    """A line of data for people: on a terminal, wrapped between words to its width."""
    if sys.stdout.isatty():
        import shutil
        import textwrap

        width = shutil.get_terminal_size().columns
        text = textwrap.fill(text, width=width, subsequent_indent="  ", break_on_hyphens=False,
                             break_long_words=False)
    print(text)


PROSE_MIN_WIDTH = 30  # a wrapped column narrower than this reads as a list of fragments


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
                drop_first: Sequence[str] = ()) -> None:
    """A table that fits the terminal and breaks lines only between words.

    The first column (the id) never wraps. Every other column wraps on words and is never narrower
    than its longest word (nor than PROSE_MIN_WIDTH when its text is longer). When the terminal is
    too narrow for that, columns are left out: first those named in `drop_first`, in order, then
    from the right; the id column always stays.
    """
    from rich.console import Console
    from rich.table import Table

    cells = [["" if v is None else str(v) for v in row] for row in rows]
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=200)  # piped to a file or a pager: don't fold at 80 columns
    kept = _columns_that_fit(list(columns), cells, width=console.width, drop_first=drop_first)
    table = Table(title=title, show_lines=False, header_style="bold")
    for index in kept:
        table.add_column(columns[index], no_wrap=index == 0, overflow="fold",
                         min_width=_narrowest(columns[index], [row[index] for row in cells], wraps=index != 0))
    for row in cells:
        table.add_row(*(row[index] for index in kept))
    console.print(table)


def _narrowest(header: str, values: list[str], *, wraps: bool) -> int:
    """The least width a column reads well in: whole words, and room for a phrase when it is prose."""
    longest = max((len(value) for value in [header, *values]), default=0)
    if not wraps:
        return longest
    longest_word = max((len(word) for value in [header, *values] for word in value.split()), default=0)
    return max(longest_word, min(longest, PROSE_MIN_WIDTH))


def _columns_that_fit(columns: list[str], cells: list[list[str]], *, width: int,
                      drop_first: Sequence[str]) -> list[int]:
    """Indexes of the columns to show: drop in the table's order until the rest fit at their narrowest,
    then take back, last dropped first, any that still fit in the room left."""
    needed = {i: _narrowest(name, [row[i] for row in cells], wraps=i != 0) + 3 for i, name in enumerate(columns)}

    def fits(indexes: list[int]) -> bool:
        return sum(needed[i] for i in indexes) + 1 <= width

    order = [columns.index(name) for name in drop_first if name in columns]
    order += [i for i in reversed(range(1, len(columns))) if i not in order]
    kept, dropped = list(range(len(columns))), []
    for index in order:
        if fits(kept):
            break
        kept.remove(index)
        dropped.append(index)
    for index in reversed(dropped):
        if fits([*kept, index]):
            kept.append(index)
    return sorted(kept)


def money(value: float | None, *, missing: str = "-") -> str:
    """US dollars for people: three significant digits below a dollar ($0.000015, $0.00302), cents above."""
    import math

    if value is None:
        return missing
    if value == 0:
        return "$0"
    decimals = max(2, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    if decimals > 2:
        text = text.rstrip("0")
    return ("-$" if value < 0 else "$") + text.lstrip("-")


def number(value: float | None, spec: str) -> str:
    """A measured figure for a table: "-" when there is none."""
    return "-" if value is None else format(value, spec)


def emit(data: Any, *, as_json: bool, table: Callable[[], None]) -> None:
    """--json prints `data`; otherwise `table()` renders it for people."""
    if as_json:
        print_json(data)
    else:
        table()
