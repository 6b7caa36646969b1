"""Pictures of the two state machines, drawn from their definitions by `transitions`.

Why from the definitions: the tables in :mod:`beslut.states.machines` are what the
engine and the audit verifier run, so a diagram drawn from them cannot drift from
the behaviour. `transitions`' own graph support does the drawing: its "mermaid"
engine writes Mermaid text (for Markdown documents), its "graphviz" engine writes
DOT that Debian's ``dot`` turns into SVG (for the dashboard; where ``dot`` is missing the
dashboard draws with :mod:`beslut.web.plain_svg` and the CLI says so in one line).

A definition diagram marks no state as current; the dashboard may ask for one
state to be highlighted (where a recommendation stands now).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any, Final, Literal

from beslut.errors import InvalidInput, ProgramMissing
from beslut.states.machines import PARTY, RECOMMENDATION
from beslut.web.plain_svg import draw_plain

MACHINES: Final[Mapping[str, Mapping[str, Any]]] = {"recommendation": RECOMMENDATION, "party": PARTY}
FORMATS: Final = ("mermaid", "svg")
_ENGINES: Final[Mapping[str, Literal["mermaid", "graphviz"]]] = {"mermaid": "mermaid", "svg": "graphviz"}


@functools.lru_cache(maxsize=2)
def _graph_classes() -> tuple[type, type]:
    """`transitions`' graph machine, and one that draws the initial state like every other state.

    A definition has no current state. Made on the first drawing: the graph support is imported when
    something is drawn, not by every command line that names the machines in its help.
    """
    from transitions.extensions.diagrams import GraphMachine  # noqa: PLC0415

    neutral: dict[str, Any] = copy.deepcopy(GraphMachine.style_attributes)
    neutral["node"]["active"] = dict(neutral["node"]["inactive"])
    definition_graph = type("_DefinitionGraph", (GraphMachine,), {"style_attributes": neutral})
    return GraphMachine, definition_graph


class _Model:
    """The object the graph is drawn for; its state is the highlighted one."""


def machine_definition(machine: str) -> Mapping[str, Any]:
    """The definition named *machine* (``recommendation`` or ``party``), or a one-line refusal."""
    try:
        return MACHINES[machine]
    except KeyError:
        raise InvalidInput(f"unknown machine {machine!r}: choose one of {', '.join(MACHINES)}") from None


def draw(machine: str, fmt: str = "mermaid", *, current: str | None = None) -> str:
    """Draw *machine* as Mermaid text or an SVG document, optionally highlighting state *current*.

    Raises:
        InvalidInput: an unknown machine, format or state.
    """
    definition = machine_definition(machine)
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if current is not None and current not in definition["states"]:
        raise InvalidInput(f"{machine} has no state {current!r}")
    return _draw(machine, fmt, current)


@functools.lru_cache(maxsize=64)
def _draw(machine: str, fmt: str, current: str | None) -> str:
    """Draw once per (machine, format, state): the drawing is a pure function of them and ``dot`` costs a process."""
    definition = MACHINES[machine]
    model = _Model()
    graph_machine, definition_graph = _graph_classes()
    graph_class = graph_machine if current is not None else definition_graph
    graph_class(
        model=None,
        states=list(definition["states"]),
        transitions=[dict(t) for t in definition["transitions"]],
        initial=definition["initial"],
        auto_transitions=False,
        graph_engine=_ENGINES[fmt],
        # transitions writes the title as Mermaid's YAML front matter verbatim; Mermaid reads a `title:` key
        # there (a bare string is parsed and dropped), Graphviz prints it as it is.
        title=f"title: {definition['name']}" if fmt == "mermaid" else definition["name"],
        show_conditions=True,
    ).add_model(model, initial=current or definition["initial"])
    graph = model.get_graph()  # type: ignore[attr-defined]
    if fmt == "mermaid":
        text: str = graph.source
        return text if text.endswith("\n") else text + "\n"
    from graphviz.backend import ExecutableNotFound  # type: ignore[import-untyped]  # noqa: PLC0415

    try:
        svg: bytes = graph.pipe(format="svg", engine="dot")
    except ExecutableNotFound:
        raise ProgramMissing(
            "Graphviz's `dot` is not installed (needed for --format svg): install graphviz, or use --format mermaid"
        ) from None
    return svg.decode("utf-8")


def draw_for_dashboard(machine: str, *, current: str | None = None) -> str:
    """The SVG for the dashboard: Graphviz's drawing, or :mod:`beslut.web.plain_svg`'s where ``dot`` is missing.

    Why a fallback here and a refusal in the CLI: whoever runs ``beslut diagram --format svg`` asked
    for Graphviz's drawing and can install it or choose Mermaid; a coordinator looking at the
    dashboard cannot, and a simpler picture of the same definition beats a broken image.
    """
    try:
        return draw(machine, "svg", current=current)
    except ProgramMissing:
        return draw_plain(MACHINES[machine], current)
