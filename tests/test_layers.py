"""The layering rule, enforced: imports point inward.

``states`` (the domain) imports only the standard library, its pure helpers and
``transitions``/``holidays``/``rfc8785``/``orjson``; ``workflow`` never imports an adapter
module; ``persistence`` never imports ``workflow``; nothing in the package imports the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "beslut"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _modules(part: str) -> list[Path]:
    return sorted((PACKAGE / part).rglob("*.py"))


ALLOWED_IN_STATES = ("beslut.states", "beslut.errors", "beslut.clock")
# orjson: pure in-memory JSON (the audit chain's fast payload parse), no I/O.
THIRD_PARTY_IN_STATES = {"transitions", "holidays", "rfc8785", "orjson"}


@pytest.mark.parametrize("path", _modules("states"), ids=lambda p: p.name)
def test_states_do_no_io(path: Path) -> None:
    """The domain imports no database, scheduler, CLI or I/O library."""
    for name in _imports(path):
        root = name.split(".")[0]
        if root == "beslut":
            assert name.startswith(ALLOWED_IN_STATES), f"{path.name} imports {name}"
        else:
            assert root in THIRD_PARTY_IN_STATES or root in _STDLIB_OK, f"{path.name} imports {name}"


_STDLIB_OK = {
    "__future__", "abc", "calendar", "collections", "dataclasses", "datetime", "decimal", "fractions", "functools",
    "hashlib", "itertools", "json", "math", "operator", "re", "threading", "tomllib", "types", "typing", "zoneinfo",
}  # fmt: skip


@pytest.mark.parametrize("path", _modules("workflow"), ids=lambda p: p.name)
def test_workflow_uses_the_port_not_an_adapter(path: Path) -> None:
    """The application layer talks to the store port, never to SQLAlchemy or an adapter."""
    for name in _imports(path):
        assert not name.startswith(
            (
                "sqlalchemy",
                "sqlmodel",
                "psycopg",
                "beslut.persistence.sqlite",
                "beslut.persistence.postgres",
                "beslut.persistence._",
            )
        )


@pytest.mark.parametrize("path", _modules("persistence"), ids=lambda p: p.name)
def test_persistence_does_not_import_workflow(path: Path) -> None:
    """Adapters know the domain, not the application layer."""
    assert not any(name.startswith(("beslut.workflow", "beslut.cli")) for name in _imports(path))


def test_nothing_imports_the_cli() -> None:
    """The CLI is the outermost layer."""
    for path in PACKAGE.rglob("*.py"):
        if "cli" not in path.relative_to(PACKAGE).parts:
            assert not any(name.startswith("beslut.cli") for name in _imports(path)), path
