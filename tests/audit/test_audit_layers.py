"""The auditor's package keeps to the layering rule, and its benchmark keeps working.

``beslut/audit`` may import the domain (states), the store port and ``open_store``
(``beslut.persistence`` itself, never an adapter or a private module), the application
layer (workflow), errors and clock, and the standard library, ``cryptography``, ``orjson`` and ``defusedxml``; never
the CLI, SQLAlchemy or a driver: what it reads, it reads through the port.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bench.bench_audit import main

AUDIT = Path(__file__).resolve().parents[2] / "beslut" / "audit"
# beslut.states.deadlines: the pure rule deriving a case's timers (`audit replay --into` rebuilds them).
ALLOWED_BESLUT = (
    "beslut.audit", "beslut.states", "beslut.workflow", "beslut.errors", "beslut.clock", "beslut.states.deadlines",
)  # fmt: skip
# orjson: the fast payload parse (states.audit_chain uses it too); defusedxml: a package's XML, no DTD ever.
ALLOWED_THIRD_PARTY = {"cryptography", "orjson", "defusedxml"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(AUDIT.glob("*.py")), ids=lambda p: p.name)
def test_audit_imports_only_what_the_layering_allows(path: Path) -> None:
    import sys  # noqa: PLC0415

    for name in _imports(path):
        root = name.split(".")[0]
        if root == "beslut":
            assert name == "beslut" or name == "beslut.persistence" or name.startswith(ALLOWED_BESLUT), name
        else:
            assert root in sys.stdlib_module_names or root == "__future__" or root in ALLOWED_THIRD_PARTY, name


def test_bench_audit_runs_and_prints_the_ratios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert 0 == main(["--events", "300", "--db-dir", str(tmp_path)])
    out = capsys.readouterr().out
    names = ("raw sqlite3 + sha256 chain", "verify, one process", "verify, two processes", "replay, one process")
    for name in (*names, "replay, two processes"):
        assert re.search(rf"^{re.escape(name)} +[\d,]+ +\d+\.\d\dx$", out, re.MULTILINE), out
    assert list(tmp_path.iterdir()) == []
