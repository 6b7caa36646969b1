"""The machine diagrams: drawn from the definitions, complete, and refused for unknown names."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import pytest

from beslut.errors import InvalidInput
from beslut.states.machines import PARTY, RECOMMENDATION
from beslut.web.diagrams import draw
from tests.cli.helpers import run

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
