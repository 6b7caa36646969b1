"""The machine diagrams: drawn from the definitions, complete, and refused for unknown names."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from beslut.errors import InvalidInput
from beslut.states.machines import PARTY, RECOMMENDATION
from beslut.web.diagrams import _draw, draw, draw_for_dashboard
from tests.cli.helpers import run
from tests.web.conftest import TestClient

DEFINITIONS = {"recommendation": RECOMMENDATION, "party": PARTY}


def _triggers(definition: Mapping[str, Any]) -> set[str]:
    return {t["trigger"] for t in definition["transitions"]}


def _edges(definition: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    edges: set[tuple[str, str, str]] = set()
    for t in definition["transitions"]:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        edges.update((s, t["dest"], t["trigger"]) for s in sources)
    return edges


@pytest.mark.parametrize("machine", ["recommendation", "party"])
class TestMermaid:
    def test_every_state_and_transition_of_the_definition(self, machine: str) -> None:
        """Each state is declared and each (source, dest, trigger) of the definition is an edge of the Mermaid text."""
        definition = DEFINITIONS[machine]
        text = draw(machine, "mermaid")
        assert text.startswith(f"---\ntitle: {definition['name']}\n---\nstateDiagram-v2\n")  # YAML front matter
        declared = set(re.findall(r'^\s*state "([^"]+)" as', text, re.MULTILINE))
        assert set(definition["states"]) == declared
        edges = {
            (a, b, label.split(" [")[0])
            for a, b, label in re.findall(r"^\s*(\w+) --> (\w+): (.+)$", text, re.MULTILINE)
        }
        assert _edges(definition) == edges
        assert f"[*] --> {definition['initial']}" in text

    def test_the_cli_prints_the_same_text(self, machine: str) -> None:
        """`beslut diagram MACHINE` prints the Mermaid text on stdout and nothing on stderr."""
        result = run("diagram", machine, db=None)
        assert 0 == result.code
        assert draw(machine, "mermaid") == result.stdout
        assert "" == result.stderr


@pytest.mark.parametrize("machine", ["recommendation", "party"])
class TestSvg:
    def test_every_state_and_trigger_is_drawn(self, machine: str) -> None:
        """The SVG (from Graphviz's dot) is well-formed and names every state as a node and every trigger on an edge."""
        definition = DEFINITIONS[machine]
        result = run("diagram", machine, "--format", "svg", db=None)
        assert 0 == result.code, result.stderr
        root = ET.fromstring(result.stdout.encode("utf-8"))
        ns = {"svg": "http://www.w3.org/2000/svg"}
        nodes = {
            g.findtext("svg:title", namespaces=ns) for g in root.iter(f"{{{ns['svg']}}}g") if g.get("class") == "node"
        }
        assert set(definition["states"]) <= nodes
        texts = {(t.text or "").split(" [")[0] for t in root.iter(f"{{{ns['svg']}}}text")}
        assert _triggers(definition) <= texts
        edge_count = sum(1 for g in root.iter(f"{{{ns['svg']}}}g") if g.get("class") == "edge")
        assert len(_edges(definition)) == edge_count

    def test_a_definition_marks_no_state_but_the_dashboard_can(self, machine: str) -> None:
        """Without a current state no node is filled as active; with one, exactly that node is."""
        states = DEFINITIONS[machine]["states"]
        assert "darksalmon" not in draw(machine, "svg")
        marked = draw(machine, "svg", current=states[-1])
        assert 1 == marked.count('fill="darksalmon"')
        node = marked.split(f"<title>{states[-1]}</title>", 1)[1].split("</g>", 1)[0]
        assert "darksalmon" in node


class TestRefusals:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("diagram", "bogus"), "unknown machine 'bogus'"),
            (("diagram", "party", "--format", "png"), "unknown format 'png'"),
            (("diagram", "recommendation", "--format", "dot"), "unknown format 'dot'"),
        ],
    )
    def test_unknown_machine_or_format_is_one_line(self, args: tuple[str, ...], message: str) -> None:
        """An unknown machine or format: exit 2, one `error:` line naming it and the choices, nothing on stdout."""
        result = run(*args, db=None)
        assert 2 == result.code
        assert 1 == len(result.error_lines)
        assert result.stderr.startswith(f"error: {message}")
        assert "choose one of" in result.stderr
        assert "" == result.stdout

    def test_unknown_state_to_mark(self) -> None:
        """Marking a state the machine does not have is refused."""
        with pytest.raises(InvalidInput, match="no state 'nowhere'"):
            draw("party", "svg", current="nowhere")


@pytest.fixture
def no_graphviz(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PATH without Graphviz's `dot` (only a directory holding nothing), and no drawing cached from before."""
    monkeypatch.setenv("PATH", str(tmp_path))
    _draw.cache_clear()


class TestWithoutGraphviz:
    def test_the_cli_says_so_in_one_line(self, no_graphviz: None) -> None:
        """`beslut diagram … --format svg` without dot: exit 6, one `error:` line, nothing on stdout."""
        result = run("diagram", "party", "--format", "svg", db=None)
        assert (6, "") == (result.code, result.stdout)
        assert 1 == len(result.error_lines)
        assert result.stderr.startswith("error: Graphviz's `dot` is not installed")
        assert 0 == run("diagram", "party", db=None).code  # Mermaid needs no program

    @pytest.mark.parametrize("machine", ["recommendation", "party"])
    def test_the_dashboard_draws_every_state_and_trigger_itself(self, no_graphviz: None, machine: str) -> None:
        """The dashboard's drawing without dot: every state a node, every (source, dest, trigger) an edge."""
        definition = DEFINITIONS[machine]
        current = definition["states"][-1]
        root = ET.fromstring(draw_for_dashboard(machine, current=current).encode("utf-8"))
        ns = {"svg": "http://www.w3.org/2000/svg"}
        groups = list(root.iter(f"{{{ns['svg']}}}g"))
        nodes = {g.findtext("svg:title", namespaces=ns): g for g in groups if g.get("class") == "node"}
        assert set(definition["states"]) == set(nodes)
        edges = set()
        for g in groups:
            if g.get("class") == "edge":
                source, dest = (g.findtext("svg:title", namespaces=ns) or "").split("->")
                edges.add((source, dest, (g.findtext("svg:text", namespaces=ns) or "").split(" [")[0]))
        assert _edges(definition) == edges
        filled = [state for state, g in nodes.items() if 'fill="darksalmon"' in ET.tostring(g, encoding="unicode")]
        assert [current] == filled


    def test_the_dashboard_route_serves_it(self, no_graphviz: None, signed_in: TestClient) -> None:
        """No broken image: the dashboard's diagram route answers 200 with an SVG marking the state asked for."""
        response = signed_in.get("/diagram/recommendation.svg?markera=recommended")
        assert (200, "image/svg+xml") == (response.status_code, response.headers["content-type"])
        assert '<g class="node"><title>recommended</title><rect' in response.text
        assert 1 == response.text.count('fill="darksalmon"')


@pytest.fixture(autouse=True)
def _fresh_drawings() -> Iterator[None]:
    """Drawings cached under another PATH must not leak between tests."""
    yield
    _draw.cache_clear()
