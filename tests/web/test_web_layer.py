"""The web layer reads through the Engine and the store's ports: no SQL, no adapter, no CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "beslut" / "web"
FORBIDDEN = (
    "sqlalchemy",
    "sqlmodel",
    "psycopg",
    "sqlite3",
    "beslut.persistence.sqlite",
    "beslut.persistence.postgres",
    "beslut.persistence._",
    "beslut.cli",
    "beslut.api",
)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(WEB.rglob("*.py")), ids=lambda p: p.name)
def test_web_imports_no_database_driver_adapter_or_outer_layer(path: Path) -> None:
    """beslut/web depends on the Engine, the Reader port and the domain, never on SQL or the layers that use it."""
    bad = sorted(name for name in _imports(path) if name.startswith(FORBIDDEN))
    assert [] == bad


def test_templates_escape_everything() -> None:
    """No template switches autoescape off or marks a value safe."""
    for template in (WEB / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "|safe" not in text.replace(" ", "")
        assert "autoescape false" not in text
