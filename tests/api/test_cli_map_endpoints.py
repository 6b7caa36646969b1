"""Every CLI command has an HTTP endpoint or a stated reason not to: beslut/api/cli_map.py, checked here.

The Typer app of :mod:`beslut.cli` is walked command by command (groups included, so
``party import`` and ``db upgrade`` are seen); a command in neither ``ENDPOINTS`` nor
``CLI_ONLY`` fails, as does a mapped route missing from the app's OpenAPI document or
a command missing from the table in docs/api.md. A new CLI command without an endpoint
therefore fails CI until someone serves it or says why not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from beslut.api import create_app
from beslut.api.cli_map import CLI_ONLY, ENDPOINTS
from beslut.cli import app as cli_app
from beslut.persistence import open_store

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def cli_commands(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every leaf command of the Typer app, as typed after `beslut` (``"audit verify"``)."""
    children = getattr(command, "commands", None)
    if children is None:
        yield " ".join(prefix)
        return
    for name, child in sorted(children.items()):
        yield from cli_commands(child, (*prefix, name))


COMMANDS = sorted(cli_commands(typer.main.get_command(cli_app)))


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The app's OpenAPI document (routes do not depend on the store: a fresh SQLite file serves)."""
    path = tmp_path_factory.mktemp("map") / "map.db"
    store = open_store(str(path))
    store.create_schema()
    store.close()
    document: dict[str, Any] = create_app(str(path)).openapi()
    return document


def test_the_walk_sees_the_groups_commands() -> None:
    """The walk is not vacuous: it finds top-level commands and commands inside groups."""
    assert {"propose", "tick", "party import", "audit verify", "db upgrade", "token create"} <= set(COMMANDS)
    assert len(COMMANDS) >= 40


@pytest.mark.parametrize("command", COMMANDS)
def test_every_cli_command_is_served_or_cli_only(command: str, openapi: dict[str, Any]) -> None:
    """Mapped to routes that exist in /openapi.json, or CLI-only with a reason; never both, never neither."""
    assert (command in ENDPOINTS) != (command in CLI_ONLY), f"`beslut {command}`: add it to beslut/api/cli_map.py"
    if command in CLI_ONLY:
        assert len(CLI_ONLY[command]) > 20, "say why it is CLI-only"
        return
    for method, path in ENDPOINTS[command]:
        operations = openapi["paths"].get(path, {})
        assert method.lower() in operations, f"`beslut {command}` maps to {method} {path}, which the app lacks"
        operation = operations[method.lower()]
        assert operation.get("tags"), (method, path)
        assert operation.get("summary"), (method, path)
        assert len(operation.get("description", "")) > 40, (method, path)


def test_the_map_names_no_command_the_cli_lacks() -> None:
    """A removed or renamed CLI command cannot linger in the map (an option such as `--into` may be listed)."""
    listed = set(ENDPOINTS) | {name for name in CLI_ONLY if "--" not in name}
    assert listed <= set(COMMANDS), listed - set(COMMANDS)


def test_docs_api_md_has_a_row_for_every_cli_command() -> None:
    """docs/api.md's table 'Every CLI command' names each command in its first column."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Every CLI command", 1)[1].split("\n## ", 1)[0]
    rows = {m.group(1) for m in re.finditer(r"^\| `beslut ([a-z -]+)`", section, flags=re.MULTILINE)}
    assert set(COMMANDS) <= rows, sorted(set(COMMANDS) - rows)
