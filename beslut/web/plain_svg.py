"""A state machine drawn as SVG without Graphviz: the dashboard's diagrams where ``dot`` is not installed.

Why: only ``scripts/test.sh`` installs Graphviz, and a dashboard whose diagrams are broken images
on a plain installation tells a coordinator nothing. This drawing is simpler than ``dot``'s (states
in columns by their distance from the initial state, transitions as curves), but it is drawn from
the same definition, shows every state and every trigger, and marks the current state the same way
(``fill="darksalmon"``). Its groups carry the classes Graphviz gives them (``node``, ``edge``, each
node titled by its state), so one test reads either drawing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

COLUMN, ROW, WIDTH, HEIGHT, MARGIN = 220, 80, 130, 36, 30
ACTIVE = "darksalmon"


def _edges(definition: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(source, dest, label) for every source of every transition, in definition order."""
    edges: list[tuple[str, str, str]] = []
    for transition in definition["transitions"]:
        sources = transition["source"] if isinstance(transition["source"], list) else [transition["source"]]
        conditions = transition.get("conditions") or []
        conditions = [conditions] if isinstance(conditions, str) else list(conditions)
        label = transition["trigger"] + (f" [{', '.join(conditions)}]" if conditions else "")
        edges.extend((source, transition["dest"], label) for source in sources)
    return edges


def _columns(definition: Mapping[str, Any], edges: list[tuple[str, str, str]]) -> dict[str, tuple[int, int]]:
    """Each state's (column, row): the column is its distance from the initial state (breadth first)."""
    depth = {definition["initial"]: 0}
    queue = deque([definition["initial"]])
    while queue:
        state = queue.popleft()
        for source, dest, _label in edges:
            if source == state and dest not in depth:
                depth[dest] = depth[state] + 1
                queue.append(dest)
    last = max(depth.values(), default=0)
    for state in definition["states"]:  # a state no transition reaches still gets drawn, after the rest
        depth.setdefault(state, last + 1)
    rows: dict[int, int] = {}
    place: dict[str, tuple[int, int]] = {}
    for state in definition["states"]:
        column = depth[state]
        place[state] = (column, rows.get(column, 0))
        rows[column] = rows.get(column, 0) + 1
    return place


def draw_plain(definition: Mapping[str, Any], current: str | None = None) -> str:
    """The SVG document of *definition*, with state *current* filled as active."""
    edges = _edges(definition)
    place = _columns(definition, edges)
    columns = max(c for c, _ in place.values()) + 1
    rows = max(r for _, r in place.values()) + 1
    width = MARGIN * 2 + (columns - 1) * COLUMN + WIDTH + 160
    height = MARGIN * 2 + (rows - 1) * ROW + HEIGHT + 90

    def centre(state: str) -> tuple[float, float]:
        column, row = place[state]
        return MARGIN + column * COLUMN + WIDTH / 2, MARGIN + 30 + row * ROW + HEIGHT / 2

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(str(definition['name']))}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="black"/></marker></defs>',
        f'<text x="{MARGIN}" y="{MARGIN}" font-size="14">{escape(str(definition["name"]))}</text>',
    ]
    for index, (source, dest, label) in enumerate(edges):
        (x1, y1), (x2, y2) = centre(source), centre(dest)
        if source == dest:  # a loop above the node
            path = f"M{x1 - 20},{y1 - HEIGHT / 2} C{x1 - 30},{y1 - 70} {x1 + 30},{y1 - 70} {x1 + 20},{y1 - HEIGHT / 2}"
            lx, ly = x1, y1 - 58
        elif x2 == x1:  # the same column: a curve out to the right of both nodes
            side = x1 + WIDTH / 2
            out = side + 28 + 14 * (index % 3)
            path = f"M{side},{y1} C{out},{y1} {out},{y2} {side},{y2}"
            lx, ly = out + 4, (y1 + y2) / 2
        else:
            forward = x2 > x1
            bend = 16 * ((index % 3) - 1) + (0 if forward else 46)  # spread parallel edges; back edges below
            start_x, end_x = (x1 + WIDTH / 2, x2 - WIDTH / 2) if forward else (x1, x2)
            start_y, end_y = (y1, y2) if forward else (y1 + HEIGHT / 2, y2 + HEIGHT / 2)
            mx, my = (start_x + end_x) / 2, (start_y + end_y) / 2 + bend
            path = f"M{start_x},{start_y} Q{mx},{my} {end_x},{end_y}"
            lx, ly = mx, (start_y + end_y + 2 * my) / 4 - 4
        anchor = "start" if source != dest and x1 == x2 else "middle"
        parts.append(
            f'<g class="edge"><title>{escape(source)}&#45;&gt;{escape(dest)}</title>'
            f'<path d="{path}" fill="none" stroke="black" marker-end="url(#arrow)"/>'
            f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}" font-size="10" '
            f'stroke="white" stroke-width="3" paint-order="stroke">{escape(label)}</text></g>'
        )
    for state in definition["states"]:
        x, y = centre(state)
        fill = ACTIVE if state == current else "lightgray"
        parts.append(
            f'<g class="node"><title>{escape(state)}</title>'
            f'<rect x="{x - WIDTH / 2}" y="{y - HEIGHT / 2}" width="{WIDTH}" height="{HEIGHT}" rx="8" '
            f'fill="{fill}" stroke="black"/>'
            f'<text x="{x}" y="{y + 4}" text-anchor="middle">{escape(state)}</text></g>'
        )
    parts.append("</svg>\n")
    return "\n".join(parts)
