"""The layering rule, enforced: every part of ``beslut`` has a place in one order, and imports only below it.

:data:`LAYERS` names every package and root module of ``beslut/``, lowest first. A module may import
its own part and the parts of lower layers, nothing else: not a higher layer, and not another part of
its own layer (parts that share a layer know nothing of each other). ``beslut/__init__.py`` is the
public facade, the top: nothing inside the package imports it (``from beslut import failpoints``
names the module ``beslut.failpoints``, which is fine).

Every import counts: at module level, inside a function (a deferred import is still an import, it
only runs later), under ``if TYPE_CHECKING:`` (those name the same modules that a lazy
``__getattr__`` loads at run time, so they follow the same rule), and ``importlib.import_module``
with a literal name. The parts' graph must also have no cycle, checked on its own so that a failure
names the cycle.

``states`` (the domain) also imports only the standard library and its pure helpers
``transitions``/``holidays``/``rfc8785``/``orjson``; ``workflow`` imports no database library.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "beslut"
FACADE = "__init__"

#: Lowest first. The application layer (workflow) owns the store's ports (``workflow/ports.py``);
#: persistence implements them, so it sits above the layer whose ports it implements.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),  # one hierarchy of refusals, each with its exit code
    ("clock", "failpoints", "jsontext", "lazy", "logs"),  # the kernel: time, crash points, JSON text, PEP 562, logs
    ("states",),  # the domain: pure, no I/O
    ("workflow",),  # the application layer: the engine, the batch, the store's ports
    ("persistence",),  # the adapters of the ports: SQLite, PostgreSQL, the schema and migrations
    ("audit",),  # the auditor's tools over the domain and the rows
    ("scheduler",),  # the daemon, delivery and notifiers; its checkpoint job uses audit
    ("render", "web"),  # terminal tables; the dashboard pages and the machine diagrams
    ("api",),  # the HTTP API, which mounts the dashboard
    ("demo",),  # the Mini-Maria demo
    ("cli",),  # the command line, the outermost face
    (FACADE,),  # beslut/__init__.py: the public Python API
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}

# Stricter than the layers for the domain: not failpoints (signals), logs or jsontext (no output in the domain).
ALLOWED_IN_STATES = ("beslut.states", "beslut.errors", "beslut.clock")
# orjson: pure in-memory JSON (the audit chain's fast payload parse), no I/O.
THIRD_PARTY_IN_STATES = {"transitions", "holidays", "rfc8785", "orjson"}
_STDLIB_OK = {
    "__future__", "abc", "calendar", "collections", "dataclasses", "datetime", "decimal", "fractions", "functools",
    "hashlib", "itertools", "json", "math", "operator", "re", "threading", "tomllib", "types", "typing", "zoneinfo",
}  # fmt: skip
DATABASE_LIBRARIES = ("sqlalchemy", "sqlmodel", "psycopg", "alembic")


@dataclass(frozen=True)
class Import:
    """One import in one module: the module it names, and where."""

    module: str
    line: int


def _module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str, root: Path = PACKAGE) -> bool:
    """Whether *dotted* (``beslut.x.y``) is a module or package of the source tree."""
    path = root.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path, root: Path = PACKAGE) -> Iterator[Import]:
    """Every module *path* imports: anywhere in the file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:  # `from beslut import failpoints` imports the module beslut.failpoints
                child = f"{base}.{alias.name}"
                yield Import(child if _is_module(child, root) else base, node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield Import(node.args[0].value, node.lineno)


def part_of(module: str) -> str:
    """The part of ``beslut`` a module belongs to: its subpackage or root module, or the facade."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else FACADE


def _sources(root: Path = PACKAGE) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _parts_on_disk() -> set[str]:
    parts = {path.stem for path in PACKAGE.glob("*.py")}
    parts.update(path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file())
    return parts


def test_every_part_has_a_place() -> None:
    """Each root module and package of beslut/ is in LAYERS once, and LAYERS names nothing that is not there."""
    named = [part for parts in LAYERS for part in parts]
    assert len(named) == len(set(named)), "a part is named twice"
    assert _parts_on_disk() == set(named)


def violations(root: Path = PACKAGE) -> list[str]:
    """Imports against LAYERS in the package at *root*, as ``file:line imports module (part rank -> part rank)``."""
    found: list[str] = []
    for path in _sources(root):
        here = part_of(_module_name(path, root))
        for imported in imports_of(path, root):
            if imported.module != "beslut" and not imported.module.startswith("beslut."):
                continue
            there = part_of(imported.module)
            if there == here:
                continue
            if there == FACADE or RANK[there] >= RANK[here]:
                where = f"{path.relative_to(root.parent)}:{imported.line}"
                found.append(f"{where} imports {imported.module} ({here} {RANK[here]} -> {there} {RANK[there]})")
    return found


def test_imports_point_down_the_layers() -> None:
    """No module imports a higher layer, another part of its own layer, or the facade."""
    assert [] == violations()


def _graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {part: set() for parts in LAYERS for part in parts}
    for path in _sources(root):
        here = part_of(_module_name(path, root))
        for imported in imports_of(path, root):
            if imported.module == "beslut" or imported.module.startswith("beslut."):
                there = part_of(imported.module)
                if there != here:
                    graph[here].add(there)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of *graph* as the path that closes it (``[a, b, a]``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_the_parts_import_each_other_without_a_cycle() -> None:
    """The graph of parts (who imports whom) has no cycle."""
    assert find_cycle(_graph()) is None


def test_the_checks_see_bad_imports(tmp_path: Path) -> None:
    """On a small tree: a deferred upward import, a facade import, a same-layer import and a cycle all show."""
    root = tmp_path / "beslut"
    files = {
        "__init__.py": "from beslut.workflow import Engine\n",
        "render.py": "from beslut import web\n",  # web shares render's layer
        "states/__init__.py": "def later() -> None:\n    from beslut.persistence import open_store\n",
        "workflow/__init__.py": "from beslut import failpoints\n",  # a module, not the facade: allowed
        "workflow/engine.py": "from beslut.persistence import open_store\n",
        "persistence/__init__.py": "import importlib\nimportlib.import_module('beslut.workflow')\n",
        "audit/__init__.py": "from beslut import Engine\n",
        "web/__init__.py": "from . import pages\n",
        "web/pages.py": "from ..api import app\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    (root / "failpoints.py").write_text("", encoding="utf-8")
    found = [line.split(" (")[0] for line in violations(root)]
    assert [
        "beslut/audit/__init__.py:1 imports beslut",
        "beslut/render.py:1 imports beslut.web",
        "beslut/states/__init__.py:2 imports beslut.persistence",
        "beslut/web/pages.py:1 imports beslut.api",
        "beslut/workflow/engine.py:1 imports beslut.persistence",
    ] == found
    assert ["workflow", "persistence", "workflow"] == find_cycle(_graph(root))
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("path", sorted((PACKAGE / "states").rglob("*.py")), ids=lambda p: p.name)
def test_states_do_no_io(path: Path) -> None:
    """The domain imports no database, scheduler, CLI or I/O library, and of the kernel only errors and clock."""
    for imported in imports_of(path):
        root = imported.module.split(".")[0]
        if root == "beslut":
            assert imported.module.startswith(ALLOWED_IN_STATES), f"{path.name} imports {imported.module}"
        else:
            assert root in THIRD_PARTY_IN_STATES or root in _STDLIB_OK, f"{path.name} imports {imported.module}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "workflow").rglob("*.py")), ids=lambda p: p.name)
def test_workflow_uses_the_ports_not_a_database(path: Path) -> None:
    """The application layer talks to its ports, never to a database library."""
    for imported in imports_of(path):
        assert not imported.module.startswith(DATABASE_LIBRARIES), f"{path.name} imports {imported.module}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "persistence").rglob("*.py")), ids=lambda p: p.name)
def test_adapters_know_only_the_ports_of_the_application_layer(path: Path) -> None:
    """Persistence implements workflow's ports; it imports nothing else of workflow (not the engine)."""
    for imported in imports_of(path):
        if part_of(imported.module) == "workflow":
            assert imported.module == "beslut.workflow.ports", f"{path.name} imports {imported.module}"
