"""The store owns every SQL statement: services, cli and api call its named functions, and the
store reaches no layer above it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import modelctl

PACKAGE = Path(modelctl.__file__).parent
STATEMENT = re.compile(
    r"\bSELECT\b.*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b|\bCREATE\s+(TABLE|INDEX)\b"
    r"|\bPRAGMA\s+\w+",
    re.DOTALL,
)


def _modules(*layers: str) -> list[Path]:
    return sorted(p for layer in layers for p in (PACKAGE / layer).rglob("*.py"))


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_no_sql_text_outside_the_store():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "store"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value[:60]!r}"
                  for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and STATEMENT.search(node.value)]
        found += [f"{path.relative_to(PACKAGE)}: imports {name}"
                  for name in _imports(path) if name in ("sqlalchemy.text", "sqlite3")]
    assert found == []


def test_cli_and_api_reach_the_store_only_through_services():
    found = [f"{path.relative_to(PACKAGE)}: {name}"
             for path in _modules("cli", "api") for name in _imports(path) if name.startswith("modelctl.store")]
    assert found == []


def test_the_store_imports_no_layer_above_it():
    above = ("modelctl.services", "modelctl.cli", "modelctl.api")
    found = [f"{path.relative_to(PACKAGE)}: {name}"
             for path in _modules("store") for name in _imports(path) if name.startswith(above)]
    assert found == []
